package schedule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/varde/varde/job"
	"github.com/varde/varde/storage"
)

// maxAttempts: a run is retried only after its process died or the database failed it; its audit, once
// made, is never made again, so retries are cheap and few are needed.
const maxAttempts = 5

// auditArgs is the River job of one audit run. The run row holds everything else.
type auditArgs struct {
	RunID int64 `json:"run_id" river:"unique"`
}

func (auditArgs) Kind() string { return "varde_audit" }

func (auditArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueName, MaxAttempts: maxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type auditWorker struct {
	river.WorkerDefaults[auditArgs]
	s *Service
}

// Work runs one audit run. Every step is safe to repeat: a final run is left alone; a run whose audit
// exists (an earlier attempt made it, then died) is closed with that audit's status once the audit's
// process is gone, and no second audit is made.
func (w *auditWorker) Work(ctx context.Context, j *river.Job[auditArgs]) error {
	err := w.work(ctx, j)
	var snooze *river.JobSnoozeError
	if err != nil && !errors.As(err, &snooze) && j.Attempt >= j.MaxAttempts {
		// River discards the job after this attempt: the run must not stay queued or running forever.
		msg := fmt.Sprintf("gave up after %d attempts: %v", j.Attempt, err)
		if ferr := w.s.store.FinishRun(ctx, j.Args.RunID, storage.RunFailed, w.s.cfg.Now(), msg); ferr != nil && !errors.Is(ferr, storage.ErrConflict) {
			return errors.Join(err, ferr)
		}
	}
	return err
}

func (w *auditWorker) work(ctx context.Context, j *river.Job[auditArgs]) error {
	s := w.s
	st := s.store
	run, err := st.StartRun(ctx, j.Args.RunID, s.cfg.Now())
	if errors.Is(err, storage.ErrConflict) {
		s.log.Info("run already final; nothing to do", "run", run.ID, "status", run.Status)
		return nil
	}
	if err != nil {
		return err
	}
	log := s.log.With("run", run.ID, "config", run.ConfigName, "attempt", j.Attempt)
	if run.AuditID != nil {
		return w.resume(ctx, run)
	}
	cfg, err := w.config(ctx, run)
	var ie *InputError
	if errors.As(err, &ie) {
		log.Error("audit run failed before its audit", "err", err)
		return st.FinishRun(ctx, run.ID, storage.RunFailed, s.cfg.Now(), err.Error())
	}
	if err != nil {
		return err // the database, most likely: River tries again
	}
	if run.ScheduleID != nil && cfg.Period == "" && cfg.Kind == job.KindQuarterly {
		cfg.Period = w.lastQuarter(ctx, run)
	}
	tmp, err := os.MkdirTemp("", "varde-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	snaps, err := st.ClaimSnapshots(ctx, run)
	if err != nil {
		return err
	}
	for _, g := range snaps {
		p := filepath.Join(tmp, fmt.Sprintf("snapshot-%d.tar.gz", g.ID))
		if err := os.WriteFile(p, g.Body, 0o600); err != nil {
			return err
		}
		cfg.Guest.Snapshots = append(cfg.Guest.Snapshots, p)
	}
	hr := &storage.HeaderRun{ID: run.ID, ConfigName: run.ConfigName, ConfigVersion: run.ConfigVersion,
		ScheduleID: run.ScheduleID, PlannedAt: run.PlannedAt.UTC().Format(time.RFC3339Nano), Late: run.Late, Missed: run.Missed}
	log.Info("audit run starting", "planned_at", run.PlannedAt, "late", run.Late)
	// Each step's start and end is logged, so an operator (and the fault tests) can see where an audit is.
	progress := func(msg string) { log.Info("audit progress", "progress", msg) }
	res, err := job.Run(ctx, cfg, job.Options{Store: st, Logger: s.log, Now: s.cfg.Now, Emulator: s.cfg.Job.Emulator,
		Remote: s.cfg.Job.Remote, Run: hr, Progress: progress})
	status, msg := storage.RunFailed, ""
	if res != nil && res.Status != "" {
		status = storage.RunStatus(res.Status)
	}
	if err != nil {
		msg = err.Error()
	}
	if res != nil && status == storage.RunSucceeded {
		// The audit's own status is final before its reports are made; a run whose reports step failed
		// did not deliver what it was for, so the run says so.
		for _, st := range res.Failed() {
			status = storage.RunPartial
			msg = strings.TrimPrefix(msg+"; ", "; ") + fmt.Sprintf("step %s failed: %s", st.Step, st.Message)
		}
	}
	var auditID int64
	if res != nil && res.AuditID != 0 {
		auditID = res.AuditID
		run.AuditID = &auditID
	}
	if ferr := st.FinishRun(ctx, run.ID, status, s.cfg.Now(), msg); ferr != nil {
		return errors.Join(ferr, err)
	}
	run.Status = status
	log.Info("audit run finished", "status", status, "audit", auditID, "err", err)
	if s.cfg.OnAuditDone != nil && auditID != 0 {
		s.cfg.OnAuditDone(ctx, run, res)
	}
	// The run's outcome is on record, whatever it was: River has nothing to retry.
	return nil
}

// lastQuarter is the period a scheduled quarterly audit without one of its own covers: the last
// complete quarter before its planned time, in the schedule's time zone (a run planned for 1 January
// 00:00 in Oslo audits Q4, although it is still 31 December in UTC).
func (w *auditWorker) lastQuarter(ctx context.Context, run storage.AuditRun) string {
	loc := time.UTC
	if sc, err := w.s.store.GetSchedule(ctx, *run.ScheduleID); err == nil {
		if l, err := time.LoadLocation(sc.TimeZone); err == nil {
			loc = l
		}
	}
	return previousQuarter(run.PlannedAt.In(loc))
}

// previousQuarter names the last quarter that ended before t, as job.ParsePeriod reads it: "2026-Q3".
func previousQuarter(t time.Time) string {
	y, q := t.Year(), (int(t.Month())-1)/3
	if q == 0 {
		y, q = y-1, 4
	}
	return fmt.Sprintf("%d-Q%d", y, q)
}

// config loads the run's config version with the server's paths over it.
func (w *auditWorker) config(ctx context.Context, run storage.AuditRun) (*job.Config, error) {
	c, err := w.s.store.GetConfig(ctx, run.ConfigName, run.ConfigVersion)
	if err != nil {
		return nil, err
	}
	cfg, err := w.s.parseConfig(c.Name, []byte(c.Body))
	if err != nil {
		return nil, fmt.Errorf("config %s version %d no longer validates: %w", c.Name, c.Version, err)
	}
	return cfg, nil
}

// resume handles a retried run whose audit an earlier attempt made. That attempt's process died (or
// River took the job for stuck): the audit is closed as interrupted once no live process holds it, and
// the run records the audit's status. Its evidence is kept as it is and is not added to.
func (w *auditWorker) resume(ctx context.Context, run storage.AuditRun) error {
	s := w.s
	a, err := s.store.GetAudit(ctx, *run.AuditID)
	if err != nil {
		return err
	}
	if !a.Status.Final() {
		// Only this audit: taking its hold proves the process that ran it is gone.
		h, err := s.store.HoldAudit(ctx, a.ID)
		if err != nil {
			// A live process still holds it (the job was taken for stuck while its audit ran on).
			s.log.Warn("retried run's audit is still held; trying later", "run", run.ID, "audit", a.ID, "err", err)
			return river.JobSnooze(time.Minute)
		}
		err = s.store.FinishAudit(ctx, a.ID, storage.StatusInterrupted, s.cfg.Now())
		h.Release()
		if err != nil && !errors.Is(err, storage.ErrAuditFinished) {
			return err
		}
		if a, err = s.store.GetAudit(ctx, a.ID); err != nil {
			return err
		}
	}
	// Sealed as job.Run seals an interrupted audit: what it stored is evidence. Seal is idempotent, and
	// a failure leaves the audit for `varde report generate` to seal, as the CLI's recover does.
	if err := w.seal(ctx, run, a.ID); err != nil {
		s.log.Warn("retried run's audit not sealed in the evidence log", "run", run.ID, "audit", a.ID, "err", err)
	}
	status := storage.RunStatus(a.Status)
	msg := fmt.Sprintf("an earlier attempt's process ended while audit %d ran; the audit is %s and keeps what it stored", a.ID, a.Status)
	if a.Status.Complete() {
		msg = ""
		// The audit was final before its reports step: the run delivered its reports only if that step
		// is on record as done. Otherwise it is partial, as a run whose reports step failed is.
		reported, err := w.reportsDone(ctx, a.ID)
		if err != nil {
			return err
		}
		if !reported {
			status = storage.RunPartial
			msg = fmt.Sprintf("step reports did not finish: an earlier attempt's process ended after audit %d was %s; `varde report generate --audit %d` makes its reports", a.ID, a.Status, a.ID)
		}
	}
	s.log.Warn("retried run found its audit", "run", run.ID, "audit", a.ID, "status", a.Status, "run_status", status)
	if err := s.store.FinishRun(ctx, run.ID, status, s.cfg.Now(), msg); err != nil {
		return err
	}
	if s.cfg.OnAuditDone != nil {
		run.Status = status
		s.cfg.OnAuditDone(ctx, run, nil) // no job.Result: this attempt ran nothing
	}
	return nil
}

// reportsDone says whether the audit's reports step is on record as succeeded.
func (w *auditWorker) reportsDone(ctx context.Context, auditID int64) (bool, error) {
	steps, err := w.s.store.Steps(ctx, auditID)
	if err != nil {
		return false, err
	}
	for _, st := range steps {
		if st.Step == "reports" && job.StepStatus(st.Status) == job.StepSucceeded {
			return true, nil
		}
	}
	return false, nil
}

// seal puts a finished audit in the evidence log the run's config (with the server's keys) names.
func (w *auditWorker) seal(ctx context.Context, run storage.AuditRun, auditID int64) error {
	cfg, err := w.config(ctx, run)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil { // fills in the log's default paths
		return err
	}
	l, err := job.LogFromConfig(w.s.store, cfg)
	if err != nil {
		return err
	}
	_, _, err = l.Seal(ctx, auditID, w.s.cfg.Now())
	return err
}
