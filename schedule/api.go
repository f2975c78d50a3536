package schedule

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/varde/varde/guest"
	"github.com/varde/varde/job"
	"github.com/varde/varde/storage"
)

// maxConfigBytes bounds an uploaded config, as `varde audit run` bounds a config file.
const maxConfigBytes = 4 << 20

var configName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

func checkName(field, name string) error {
	if !configName.MatchString(name) {
		return inputErr(field, "%.80q: want 1 to 64 of a-z, 0-9, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// parseConfig parses an uploaded config as `varde audit run` would, with the server's paths over the
// config's, and holds the config's own paths to files under ConfigDir. Errors are *InputError.
func (s *Service) parseConfig(name string, body []byte) (*job.Config, error) {
	if len(body) == 0 {
		return nil, inputErr("body", "empty: want an audit config in YAML or JSON")
	}
	if len(body) > maxConfigBytes {
		return nil, inputErr("body", "%d bytes is over the limit of %d", len(body), maxConfigBytes)
	}
	d := s.cfg.Job
	var raw job.Config
	cfg, err := job.ParseConfigWith(filepath.Join(d.ConfigDir, name+".yaml"), body, func(c *job.Config) {
		raw = *c
		c.Signing = job.Signing{KeysDir: d.KeysDir, Init: d.InitKeys, Cert: d.SignerCert, Key: d.SignerKey,
			Password: d.PasswordEnv, TSAURL: d.TSAURL}
		if c.Signing.KeysDir == "" && c.Signing.Cert == "" {
			c.Signing.KeysDir = "keys" // an insert-only replica signs nothing; the runners have the keys
		}
		c.OutputDir = d.OutputDir
		if c.OutputDir == "" {
			c.OutputDir = "out"
		}
		if len(d.GeoIPDBs) > 0 {
			c.GeoIPDBs = d.GeoIPDBs
		}
		if len(d.CloudRanges) > 0 {
			c.CloudRanges = d.CloudRanges
		}
	})
	if err != nil {
		return nil, inputErr("body", "%s", strings.TrimPrefix(err.Error(), filepath.Join(d.ConfigDir, name+".yaml")+":"))
	}
	if raw.Guest.IODir != "" {
		return nil, inputErr("body", "guest: io_dir: not accepted in an uploaded config (the server chooses where it writes)")
	}
	check := func(field string, paths ...string) error {
		for _, p := range paths {
			if p == "" {
				continue
			}
			if filepath.IsAbs(p) || !filepath.IsLocal(p) {
				return inputErr("body", "%s: %q: an uploaded config names files relative to the server's config directory, without ..", field, p)
			}
			if _, err := os.Stat(cfg.Path(p)); err != nil {
				return inputErr("body", "%s: %q: no such file in the server's config directory", field, p)
			}
		}
		return nil
	}
	if err := check("inventory", raw.Inventory); err != nil {
		return nil, err
	}
	if len(d.GeoIPDBs) == 0 {
		if err := check("geoip_db", raw.GeoIPDBs...); err != nil {
			return nil, err
		}
	}
	if len(d.CloudRanges) == 0 {
		if err := check("cloud_ranges", raw.CloudRanges...); err != nil {
			return nil, err
		}
	}
	if err := check("guest: snapshots", raw.Guest.Snapshots...); err != nil {
		return nil, err
	}
	return cfg, nil
}

// PutConfig validates body (YAML or JSON, as `varde audit run` takes) and stores it as the next version
// of config name; an unchanged body keeps its version.
func (s *Service) PutConfig(ctx context.Context, name string, body []byte, createdBy string) (storage.AuditConfig, error) {
	if err := checkName("name", name); err != nil {
		return storage.AuditConfig{}, err
	}
	if _, err := s.parseConfig(name, body); err != nil {
		return storage.AuditConfig{}, err
	}
	return s.store.PutConfig(ctx, name, body, createdBy, s.cfg.Now())
}

func (s *Service) scheduleRow(in storage.NewSchedule) (storage.Schedule, error) {
	if err := checkName("config_name", in.ConfigName); err != nil {
		return storage.Schedule{}, err
	}
	sp, err := ParseSpec(in.Spec)
	if err != nil {
		return storage.Schedule{}, err
	}
	now := s.cfg.Now()
	next := sp.Next(now)
	if next.IsZero() {
		return storage.Schedule{}, inputErr("spec", "%q has no planned time in the next five years", in.Spec)
	}
	return storage.Schedule{ConfigName: in.ConfigName, Spec: sp.Source, TimeZone: sp.TimeZone, Enabled: in.Enabled,
		NextRunAt: next, CreatedAt: now, UpdatedAt: now}, nil
}

// CreateSchedule stores a schedule of an uploaded config; its first planned time is the spec's first
// after now. A missing config is an error wrapping storage.ErrNotFound.
func (s *Service) CreateSchedule(ctx context.Context, in storage.NewSchedule) (storage.Schedule, error) {
	sc, err := s.scheduleRow(in)
	if err != nil {
		return storage.Schedule{}, err
	}
	return s.store.CreateSchedule(ctx, sc)
}

// UpdateSchedule replaces a schedule's config, spec and enabled flag; its next planned time is the new
// spec's first after now.
func (s *Service) UpdateSchedule(ctx context.Context, id int64, in storage.NewSchedule) (storage.Schedule, error) {
	sc, err := s.scheduleRow(in)
	if err != nil {
		return storage.Schedule{}, err
	}
	return s.store.UpdateSchedule(ctx, id, sc)
}

// SetScheduleEnabled turns a schedule on or off. Turned on again, it plans from now: the times it was
// off are not owed.
func (s *Service) SetScheduleEnabled(ctx context.Context, id int64, enabled bool) (storage.Schedule, error) {
	sc, err := s.store.GetSchedule(ctx, id)
	if err != nil {
		return storage.Schedule{}, err
	}
	if sc.Enabled == enabled {
		return sc, nil
	}
	now := s.cfg.Now()
	if enabled {
		sp, err := ParseSpec(sc.Spec)
		if err != nil {
			return storage.Schedule{}, err
		}
		sc.NextRunAt = sp.Next(now)
	}
	sc.Enabled, sc.UpdatedAt = enabled, now
	return s.store.UpdateSchedule(ctx, id, sc)
}

// RunNow enqueues a run of the latest version of a config, planned for now.
func (s *Service) RunNow(ctx context.Context, name, requestedBy string) (storage.AuditRun, error) {
	if err := checkName("config_name", name); err != nil {
		return storage.AuditRun{}, err
	}
	now := s.cfg.Now()
	return s.store.AddRun(ctx, storage.NewRun{ConfigName: name, PlannedAt: now, EnqueuedAt: now, RequestedBy: requestedBy}, s.enqueue)
}

// AddSnapshot stores a `varde guest collect` archive for the next audit of a config, after reading it
// as the guest checks will (gzip tar with a varde manifest, within the snapshot limits).
func (s *Service) AddSnapshot(ctx context.Context, name string, archive io.Reader, uploadedBy string) (storage.GuestSnapshot, error) {
	if err := checkName("config_name", name); err != nil {
		return storage.GuestSnapshot{}, err
	}
	b, err := io.ReadAll(io.LimitReader(archive, s.cfg.MaxSnapshotBytes+1))
	if err != nil {
		return storage.GuestSnapshot{}, fmt.Errorf("read guest snapshot: %w", err)
	}
	if int64(len(b)) > s.cfg.MaxSnapshotBytes {
		return storage.GuestSnapshot{}, inputErr("archive", "over the limit of %d bytes for a guest snapshot", s.cfg.MaxSnapshotBytes)
	}
	if len(b) == 0 {
		return storage.GuestSnapshot{}, inputErr("archive", "empty: want a `varde guest collect` archive")
	}
	root, err := guest.ReadSnapshot(ctx, bytes.NewReader(b))
	if err != nil {
		return storage.GuestSnapshot{}, inputErr("archive", "%v", err)
	}
	host := ""
	if root.Manifest != nil {
		host = root.Manifest.Host
	}
	return s.store.AddSnapshot(ctx, storage.GuestSnapshot{ConfigName: name, Body: b, Host: host,
		UploadedAt: s.cfg.Now(), UploadedBy: uploadedBy})
}
