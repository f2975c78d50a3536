package console

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/varde/varde/api"
	"github.com/varde/varde/schedule"
	"github.com/varde/varde/storage"
)

// The real implementations of the console's interfaces: tokens as the API stores them (package token's
// format and digest, storage's records) and the scheduled audit service (package schedule).

// StoreTokens authenticates API tokens against the service's token records.
type StoreTokens struct {
	Store *storage.Store
	Now   func() time.Time // default time.Now
}

func (t StoreTokens) now() time.Time {
	if t.Now == nil {
		return time.Now()
	}
	return t.Now()
}

// Authenticate is the API's own token check (api.Authenticate): form and checksum, then a record that
// is neither revoked nor expired.
func (t StoreTokens) Authenticate(ctx context.Context, raw string) (Identity, error) {
	rec, err := api.Authenticate(ctx, t.Store, raw, t.now())
	if errors.Is(err, api.ErrTokenRefused) {
		return Identity{}, fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	if err != nil {
		return Identity{}, err
	}
	return Identity{Ref: strconv.FormatInt(rec.ID, 10), Subject: rec.Name, Scopes: rec.Scopes, ExpiresAt: rec.ExpiresAt}, nil
}

// StillValid reports whether the token with this ID is still usable.
func (t StoreTokens) StillValid(ctx context.Context, ref string) error {
	id, err := strconv.ParseInt(ref, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: token reference %q", ErrBadToken, ref)
	}
	rec, err := t.Store.Token(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: token %d is gone", ErrBadToken, id)
	}
	if err != nil {
		return err
	}
	if !rec.Usable(t.now()) {
		return fmt.Errorf("%w: token %d is revoked or expired", ErrBadToken, id)
	}
	return nil
}

// ServiceSchedules is the scheduled audit service: schedules and runs through package schedule, read
// back from storage.
type ServiceSchedules struct {
	Service *schedule.Service
	Store   *storage.Store
}

func (s ServiceSchedules) view(ctx context.Context, sc storage.Schedule) (Schedule, error) {
	out := Schedule{ID: sc.ID, Config: sc.ConfigName, TimeZone: sc.TimeZone, Enabled: sc.Enabled, NextRun: sc.NextRunAt}
	fields := strings.Fields(sc.Spec)
	if len(fields) > 0 && (strings.HasPrefix(fields[0], "CRON_TZ=") || strings.HasPrefix(fields[0], "TZ=")) {
		fields = fields[1:]
	}
	out.Cron = strings.Join(fields, " ")
	if sc.LastRunID != nil {
		run, err := s.Store.GetRun(ctx, *sc.LastRunID)
		if err != nil {
			return out, err
		}
		if run.AuditID != nil {
			out.LastAuditID = *run.AuditID
		}
		out.LastRun, out.LastRunError = string(run.Status), run.Error
	}
	return out, nil
}

func (s ServiceSchedules) ListSchedules(ctx context.Context) ([]Schedule, error) {
	scs, err := s.Store.ListSchedules(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Schedule, 0, len(scs))
	for _, sc := range scs {
		v, err := s.view(ctx, sc)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (s ServiceSchedules) GetSchedule(ctx context.Context, id int64) (Schedule, error) {
	sc, err := s.Store.GetSchedule(ctx, id)
	if err != nil {
		return Schedule{}, err
	}
	return s.view(ctx, sc)
}

func spec(cron, tz string) string { return "CRON_TZ=" + tz + " " + strings.TrimSpace(cron) }

// invalid marks the service's input errors, and a config that does not exist, as the form's to show.
func invalid(err error) error {
	var ie *schedule.InputError
	if errors.As(err, &ie) || errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: %w", ErrInvalidSchedule, err)
	}
	return err
}

func (s ServiceSchedules) CreateSchedule(ctx context.Context, in ScheduleInput) (Schedule, error) {
	sc, err := s.Service.CreateSchedule(ctx, storage.NewSchedule{ConfigName: in.Config, Spec: spec(in.Cron, in.TimeZone), Enabled: in.Enabled})
	if err != nil {
		return Schedule{}, invalid(err)
	}
	return s.view(ctx, sc)
}

func (s ServiceSchedules) UpdateSchedule(ctx context.Context, id int64, in ScheduleInput) (Schedule, error) {
	if _, err := s.Store.GetSchedule(ctx, id); err != nil {
		return Schedule{}, err // a missing schedule is a 404, not a form error
	}
	sc, err := s.Service.UpdateSchedule(ctx, id, storage.NewSchedule{ConfigName: in.Config, Spec: spec(in.Cron, in.TimeZone), Enabled: in.Enabled})
	if err != nil {
		return Schedule{}, invalid(err)
	}
	return s.view(ctx, sc)
}

func (s ServiceSchedules) NextRuns(cron, tz string, after time.Time, n int) ([]time.Time, error) {
	return schedule.NextRuns(spec(cron, tz), after, n)
}

func (s ServiceSchedules) RunNow(ctx context.Context, id int64, by string) (string, error) {
	sc, err := s.Store.GetSchedule(ctx, id)
	if err != nil {
		return "", err
	}
	run, err := s.Service.RunNow(ctx, sc.ConfigName, by)
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(run.ID, 10), nil
}

func (s ServiceSchedules) Configs(ctx context.Context) ([]string, error) {
	cs, err := s.Store.ListConfigs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out, nil
}
