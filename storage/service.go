package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The scheduled audit service's bookkeeping (migration 6): uploaded configs, schedules, runs and guest
// snapshots waiting for an audit. None of it is evidence: an audit's evidence is in its chain.

// AuditConfig is one uploaded version of a named audit config, as uploaded.
type AuditConfig struct {
	Name      string    `db:"name" json:"name"`
	Version   int       `db:"version" json:"version"`
	SHA256    string    `db:"sha256" json:"sha256"`
	Body      string    `db:"body" json:"body"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
	CreatedBy string    `db:"created_by" json:"created_by"`
}

// NewSchedule is what a caller gives to create or change a schedule.
type NewSchedule struct {
	ConfigName string `json:"config_name"`
	// Spec is a cron expression with five fields, optionally led by CRON_TZ=Zone, or a shorthand such as
	// @quarterly.
	Spec    string `json:"spec"`
	Enabled bool   `json:"enabled"`
}

// Schedule is a stored schedule. NextRunAt is the next planned time; it is advanced in the transaction
// that enqueues the run planned for it.
type Schedule struct {
	ID         int64     `db:"id" json:"id"`
	ConfigName string    `db:"config_name" json:"config_name"`
	Spec       string    `db:"spec" json:"spec"`
	TimeZone   string    `db:"time_zone" json:"time_zone"`
	Enabled    bool      `db:"enabled" json:"enabled"`
	NextRunAt  time.Time `db:"next_run_at" json:"next_run_at"`
	LastRunID  *int64    `db:"last_run_id" json:"last_run_id,omitempty"`
	CreatedAt  time.Time `db:"created_at" json:"created_at"`
	UpdatedAt  time.Time `db:"updated_at" json:"updated_at"`
}

// RunStatus is where an audit run stands; the audit_runs table accepts exactly the constants below.
type RunStatus string

// Run statuses. The final ones are the audit's own statuses.
const (
	RunQueued      RunStatus = "queued"
	RunRunning     RunStatus = "running"
	RunSucceeded   RunStatus = RunStatus(StatusSucceeded)
	RunPartial     RunStatus = RunStatus(StatusPartial)
	RunFailed      RunStatus = RunStatus(StatusFailed)
	RunInterrupted RunStatus = RunStatus(StatusInterrupted)
)

// Final reports whether a run in this status is over.
func (s RunStatus) Final() bool { return s != RunQueued && s != RunRunning }

// Valid reports whether s is one of the run statuses.
func (s RunStatus) Valid() bool {
	switch s {
	case RunQueued, RunRunning, RunSucceeded, RunPartial, RunFailed, RunInterrupted:
		return true
	}
	return false
}

// AuditRun is one run of a config: planned by a schedule (ScheduleID set) or started by hand.
type AuditRun struct {
	ID            int64      `db:"id" json:"id"`
	ConfigName    string     `db:"config_name" json:"config_name"`
	ConfigVersion int        `db:"config_version" json:"config_version"`
	ScheduleID    *int64     `db:"schedule_id" json:"schedule_id,omitempty"`
	PlannedAt     time.Time  `db:"planned_at" json:"planned_at"`
	EnqueuedAt    time.Time  `db:"enqueued_at" json:"enqueued_at"`
	StartedAt     *time.Time `db:"started_at" json:"started_at,omitempty"`
	FinishedAt    *time.Time `db:"finished_at" json:"finished_at,omitempty"`
	Status        RunStatus  `db:"status" json:"status"`
	// Late: the run was enqueued well after its planned time (the service was down then).
	Late bool `db:"late" json:"late"`
	// Missed counts the planned times after PlannedAt that passed while the service was down: they are
	// not run again, this one run stands for them.
	Missed      int    `db:"missed" json:"missed"`
	Attempts    int    `db:"attempts" json:"attempts"`
	AuditID     *int64 `db:"audit_id" json:"audit_id,omitempty"`
	JobID       *int64 `db:"job_id" json:"-"`
	RequestedBy string `db:"requested_by" json:"requested_by"`
	Error       string `db:"error" json:"error,omitempty"`
}

// GuestSnapshot is an uploaded `varde guest collect` archive, waiting for (RunID nil) or claimed by the
// next audit run of its config. Body is only filled by ClaimSnapshots.
type GuestSnapshot struct {
	ID         int64     `db:"id" json:"id"`
	ConfigName string    `db:"config_name" json:"config_name"`
	SHA256     string    `db:"sha256" json:"sha256"`
	Size       int64     `db:"size" json:"size"`
	Host       string    `db:"host" json:"host"`
	UploadedAt time.Time `db:"uploaded_at" json:"uploaded_at"`
	UploadedBy string    `db:"uploaded_by" json:"uploaded_by"`
	RunID      *int64    `db:"run_id" json:"run_id,omitempty"`
	Body       []byte    `db:"-" json:"-"`
}

// ErrConflict is returned when a change would contradict what is stored (for example a finished run).
var ErrConflict = errors.New("conflict")

const runCols = `id, config_name, config_version, schedule_id, planned_at, enqueued_at, started_at, finished_at,
	status, late, missed, attempts, audit_id, job_id, requested_by, error`

const snapshotCols = `id, config_name, sha256, size, host, uploaded_at, uploaded_by, run_id`

// PutConfig stores body as the next version of config name, unless it equals the latest version, which
// is then returned as it is. The caller has validated body.
func (s *Store) PutConfig(ctx context.Context, name string, body []byte, createdBy string, at time.Time) (AuditConfig, error) {
	sum := sha256.Sum256(body)
	hexsum := hex.EncodeToString(sum[:])
	var out AuditConfig
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Two uploads of the same name at once take turns, so versions stay dense.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('varde.audit_configs'), hashtext($1))`, name); err != nil {
			return err
		}
		latest, err := getConfig(ctx, tx, name, 0)
		switch {
		case err == nil && latest.SHA256 == hexsum:
			out = latest
			return nil
		case err != nil && !errors.Is(err, ErrNotFound):
			return err
		}
		rows, err := tx.Query(ctx, `INSERT INTO audit_configs (name, version, sha256, body, created_at, created_by)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`, name, latest.Version+1, hexsum, string(body), pgTime(at), createdBy)
		if err != nil {
			return err
		}
		out, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[AuditConfig])
		return err
	})
	if err != nil {
		return AuditConfig{}, fmt.Errorf("store config %s: %w", name, err)
	}
	return out, nil
}

// GetConfig returns version of config name (0: the latest), or an error wrapping ErrNotFound.
func (s *Store) GetConfig(ctx context.Context, name string, version int) (AuditConfig, error) {
	return getConfig(ctx, s.pool, name, version)
}

func getConfig(ctx context.Context, q querier, name string, version int) (AuditConfig, error) {
	rows, err := q.Query(ctx, `SELECT * FROM audit_configs WHERE name = $1 AND ($2 = 0 OR version = $2)
		ORDER BY version DESC LIMIT 1`, name, version)
	if err != nil {
		return AuditConfig{}, fmt.Errorf("config %s: %w", name, err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[AuditConfig])
	if err != nil {
		what := "config " + name
		if version > 0 {
			what = fmt.Sprintf("config %s version %d", name, version)
		}
		return AuditConfig{}, notFound(err, what)
	}
	return c, nil
}

// ListConfigs returns the latest version of every config, by name.
func (s *Store) ListConfigs(ctx context.Context) ([]AuditConfig, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (name) * FROM audit_configs ORDER BY name, version DESC`)
	if err != nil {
		return nil, fmt.Errorf("list configs: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[AuditConfig])
	if err != nil {
		return nil, fmt.Errorf("list configs: %w", err)
	}
	return out, nil
}

// CreateSchedule stores a schedule for an existing config. The caller has parsed the spec into its time
// zone and first planned time.
func (s *Store) CreateSchedule(ctx context.Context, sc Schedule) (Schedule, error) {
	var out Schedule
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := getConfig(ctx, tx, sc.ConfigName, 0); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `INSERT INTO schedules (config_name, spec, time_zone, enabled, next_run_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING *`,
			sc.ConfigName, sc.Spec, sc.TimeZone, sc.Enabled, pgTime(sc.NextRunAt), pgTime(sc.CreatedAt))
		if err != nil {
			return err
		}
		out, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Schedule])
		return err
	})
	if err != nil {
		return Schedule{}, fmt.Errorf("create schedule: %w", err)
	}
	return out, nil
}

// UpdateSchedule changes schedule id's config, spec, time zone, enabled flag and next planned time to
// those of sc, at time sc.UpdatedAt.
func (s *Store) UpdateSchedule(ctx context.Context, id int64, sc Schedule) (Schedule, error) {
	var out Schedule
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := getConfig(ctx, tx, sc.ConfigName, 0); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE schedules SET config_name = $2, spec = $3, time_zone = $4, enabled = $5,
			next_run_at = $6, updated_at = $7 WHERE id = $1 RETURNING *`,
			id, sc.ConfigName, sc.Spec, sc.TimeZone, sc.Enabled, pgTime(sc.NextRunAt), pgTime(sc.UpdatedAt))
		if err != nil {
			return err
		}
		out, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Schedule])
		return notFound(err, fmt.Sprintf("schedule %d", id))
	})
	if err != nil {
		return Schedule{}, fmt.Errorf("update schedule %d: %w", id, err)
	}
	return out, nil
}

// GetSchedule returns one schedule or an error wrapping ErrNotFound.
func (s *Store) GetSchedule(ctx context.Context, id int64) (Schedule, error) {
	rows, err := s.pool.Query(ctx, `SELECT * FROM schedules WHERE id = $1`, id)
	if err != nil {
		return Schedule{}, fmt.Errorf("schedule %d: %w", id, err)
	}
	sc, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Schedule])
	if err != nil {
		return Schedule{}, notFound(err, fmt.Sprintf("schedule %d", id))
	}
	return sc, nil
}

// ListSchedules returns every schedule, by ID.
func (s *Store) ListSchedules(ctx context.Context) ([]Schedule, error) {
	rows, err := s.pool.Query(ctx, `SELECT * FROM schedules ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Schedule])
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	return out, nil
}

// NewRun is a run to enqueue. ConfigVersion 0 takes the config's latest version.
type NewRun struct {
	ConfigName    string
	ConfigVersion int
	ScheduleID    *int64
	PlannedAt     time.Time
	EnqueuedAt    time.Time
	Late          bool
	Missed        int
	RequestedBy   string
}

// Enqueue is called inside the transaction that stores a run, to put the run's job in the queue: the
// job commits with the run or neither does. It returns the queue's job ID. This is the one place pgx
// crosses the storage boundary, because the queue (River) inserts with the caller's transaction.
type Enqueue func(ctx context.Context, tx pgx.Tx, run AuditRun) (jobID int64, err error)

// AddRun stores a run started by hand and enqueues its job in the same transaction.
func (s *Store) AddRun(ctx context.Context, nr NewRun, enqueue Enqueue) (AuditRun, error) {
	var out AuditRun
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		r, ok, err := insertRun(ctx, tx, nr, enqueue)
		out = r
		if err == nil && !ok {
			err = fmt.Errorf("schedule %d at %s: %w: already enqueued", *nr.ScheduleID, nr.PlannedAt.UTC().Format(time.RFC3339), ErrConflict)
		}
		return err
	})
	if err != nil {
		return AuditRun{}, fmt.Errorf("enqueue run of %s: %w", nr.ConfigName, err)
	}
	return out, nil
}

// insertRun stores nr and enqueues its job; ok is false when the schedule already has a run at that
// planned time (nothing is stored or enqueued then).
func insertRun(ctx context.Context, tx pgx.Tx, nr NewRun, enqueue Enqueue) (AuditRun, bool, error) {
	cfg, err := getConfig(ctx, tx, nr.ConfigName, nr.ConfigVersion)
	if err != nil {
		return AuditRun{}, false, err
	}
	rows, err := tx.Query(ctx, `INSERT INTO audit_runs (config_name, config_version, schedule_id, planned_at, enqueued_at,
			status, late, missed, requested_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (schedule_id, planned_at) DO NOTHING RETURNING `+runCols,
		cfg.Name, cfg.Version, nr.ScheduleID, pgTime(nr.PlannedAt), pgTime(nr.EnqueuedAt), RunQueued, nr.Late, nr.Missed, nr.RequestedBy)
	if err != nil {
		return AuditRun{}, false, err
	}
	run, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[AuditRun])
	if errors.Is(err, pgx.ErrNoRows) {
		return AuditRun{}, false, nil
	}
	if err != nil {
		return AuditRun{}, false, err
	}
	jobID, err := enqueue(ctx, tx, run)
	if err != nil {
		return AuditRun{}, false, fmt.Errorf("enqueue job: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE audit_runs SET job_id = $2 WHERE id = $1`, run.ID, jobID); err != nil {
		return AuditRun{}, false, err
	}
	run.JobID = &jobID
	return run, true, nil
}

// Due is what a schedule's planner says about a due schedule: the run to enqueue now and the next
// planned time after it.
type Due struct {
	Run  NewRun
	Next time.Time
}

// EnqueueDue enqueues, for every enabled schedule whose next planned time is at or before now, the run
// that plan makes of it, and advances the schedule to the next planned time, in one transaction per
// schedule. Schedules another replica is enqueueing at the same moment are skipped (it holds their
// rows), and a run already stored for that schedule and time is never stored or enqueued again, so
// replicas, restarts and leader changes neither skip nor double a run.
func (s *Store) EnqueueDue(ctx context.Context, now time.Time, plan func(Schedule) (Due, error), enqueue Enqueue) ([]AuditRun, error) {
	var out []AuditRun
	var errs []error
	for {
		var done bool
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT * FROM schedules WHERE enabled AND next_run_at <= $1
				ORDER BY next_run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`, pgTime(now))
			if err != nil {
				return err
			}
			sc, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Schedule])
			if errors.Is(err, pgx.ErrNoRows) {
				done = true
				return nil
			}
			if err != nil {
				return err
			}
			due, err := plan(sc)
			if err != nil {
				// A schedule that cannot be planned any more (its zone vanished from the tz database) is
				// disabled rather than retried every tick; the error is returned for the log.
				errs = append(errs, fmt.Errorf("schedule %d: %w; disabled", sc.ID, err))
				_, uerr := tx.Exec(ctx, `UPDATE schedules SET enabled = false, updated_at = $2 WHERE id = $1`, sc.ID, pgTime(now))
				return uerr
			}
			if !due.Next.After(sc.NextRunAt) {
				return fmt.Errorf("schedule %d: next planned time %s is not after %s", sc.ID, due.Next, sc.NextRunAt)
			}
			id := sc.ID
			due.Run.ScheduleID = &id
			due.Run.ConfigName = sc.ConfigName
			run, ok, err := insertRun(ctx, tx, due.Run, enqueue)
			if err != nil {
				return fmt.Errorf("schedule %d: %w", sc.ID, err)
			}
			var last *int64
			if ok {
				out = append(out, run)
				last = &run.ID
			}
			_, err = tx.Exec(ctx, `UPDATE schedules SET next_run_at = $2, last_run_id = coalesce($3, last_run_id) WHERE id = $1`,
				sc.ID, pgTime(due.Next), last)
			return err
		})
		if err != nil {
			return out, errors.Join(append(errs, fmt.Errorf("enqueue due runs: %w", err))...)
		}
		if done {
			return out, errors.Join(errs...)
		}
	}
}

// GetRun returns one run or an error wrapping ErrNotFound.
func (s *Store) GetRun(ctx context.Context, id int64) (AuditRun, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+runCols+` FROM audit_runs WHERE id = $1`, id)
	if err != nil {
		return AuditRun{}, fmt.Errorf("run %d: %w", id, err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[AuditRun])
	if err != nil {
		return AuditRun{}, notFound(err, fmt.Sprintf("run %d", id))
	}
	return r, nil
}

// RunFilter selects runs for ListRuns; zero fields select everything.
type RunFilter struct {
	ConfigName string
	ScheduleID int64
	Status     RunStatus
	// Limit bounds one page: default 50, at most 1000.
	Limit int
}

// ListRuns returns runs newest first, one page at a time: before is the cursor (0 for the first page,
// else the next value the previous page returned). next is 0 on the last page.
func (s *Store) ListRuns(ctx context.Context, f RunFilter, before int64) (runs []AuditRun, next int64, err error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	rows, err := s.pool.Query(ctx, `SELECT `+runCols+` FROM audit_runs
		WHERE ($1 = '' OR config_name = $1) AND ($2 = 0 OR schedule_id = $2) AND ($3 = '' OR status = $3)
		  AND ($4 = 0 OR id < $4)
		ORDER BY id DESC LIMIT $5`, f.ConfigName, f.ScheduleID, string(f.Status), before, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("list runs: %w", err)
	}
	runs, err = pgx.CollectRows(rows, pgx.RowToStructByName[AuditRun])
	if err != nil {
		return nil, 0, fmt.Errorf("list runs: %w", err)
	}
	if len(runs) > limit {
		runs = runs[:limit]
		next = runs[limit-1].ID
	}
	return runs, next, nil
}

// StartRun marks a queued (or, on a retried job, running) run as running and counts the attempt. A run
// that is already final is returned unchanged with ErrConflict.
func (s *Store) StartRun(ctx context.Context, id int64, at time.Time) (AuditRun, error) {
	rows, err := s.pool.Query(ctx, `UPDATE audit_runs SET status = $2, started_at = coalesce(started_at, $3), attempts = attempts + 1
		WHERE id = $1 AND status IN ('queued', 'running') RETURNING `+runCols, id, RunRunning, pgTime(at))
	if err != nil {
		return AuditRun{}, fmt.Errorf("start run %d: %w", id, err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[AuditRun])
	if errors.Is(err, pgx.ErrNoRows) {
		cur, gerr := s.GetRun(ctx, id)
		if gerr != nil {
			return AuditRun{}, fmt.Errorf("start run %d: %w", id, gerr)
		}
		return cur, fmt.Errorf("start run %d: it is %s: %w", id, cur.Status, ErrConflict)
	}
	if err != nil {
		return AuditRun{}, fmt.Errorf("start run %d: %w", id, err)
	}
	return r, nil
}

// SetRunAudit links a run to the audit it started. A run has one audit: linking another is refused.
func (s *Store) SetRunAudit(ctx context.Context, runID, auditID int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE audit_runs SET audit_id = $2 WHERE id = $1`, runID, auditID)
	if err != nil {
		return fmt.Errorf("run %d: link audit %d: %w", runID, auditID, translate(err))
	}
	return nil
}

// FinishRun records a run's final status. Like FinishAudit it outlives its caller's cancellation, so a
// run stopped by a signal still says so. A run that is already final is left alone (ErrConflict).
func (s *Store) FinishRun(ctx context.Context, id int64, status RunStatus, at time.Time, msg string) error {
	if !status.Final() || !status.Valid() {
		return fmt.Errorf("finish run %d: %q is not a final status", id, status)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE audit_runs SET status = $2, finished_at = $3, error = $4
		WHERE id = $1 AND status IN ('queued', 'running')`, id, status, pgTime(at), msg)
	if err != nil {
		return fmt.Errorf("finish run %d: %w", id, translate(err))
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.GetRun(ctx, id); err != nil {
			return fmt.Errorf("finish run %d: %w", id, err)
		}
		return fmt.Errorf("finish run %d: %w: it is already final", id, ErrConflict)
	}
	return nil
}

// AddSnapshot stores an uploaded guest snapshot for the next audit of a config. The caller has checked
// it is a snapshot.
func (s *Store) AddSnapshot(ctx context.Context, gs GuestSnapshot) (GuestSnapshot, error) {
	sum := sha256.Sum256(gs.Body)
	var out GuestSnapshot
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := getConfig(ctx, tx, gs.ConfigName, 0); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `INSERT INTO guest_snapshots (config_name, sha256, size, host, body, uploaded_at, uploaded_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+snapshotCols,
			gs.ConfigName, hex.EncodeToString(sum[:]), len(gs.Body), gs.Host, gs.Body, pgTime(gs.UploadedAt), gs.UploadedBy)
		if err != nil {
			return err
		}
		out, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[GuestSnapshot])
		return err
	})
	if err != nil {
		return GuestSnapshot{}, fmt.Errorf("store guest snapshot for %s: %w", gs.ConfigName, err)
	}
	return out, nil
}

// ListSnapshots returns the snapshots uploaded for a config ("" for all), newest first, without bodies.
func (s *Store) ListSnapshots(ctx context.Context, configName string) ([]GuestSnapshot, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+snapshotCols+` FROM guest_snapshots WHERE $1 = '' OR config_name = $1
		ORDER BY id DESC`, configName)
	if err != nil {
		return nil, fmt.Errorf("list guest snapshots: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[GuestSnapshot])
	if err != nil {
		return nil, fmt.Errorf("list guest snapshots: %w", err)
	}
	return out, nil
}

// ClaimSnapshots gives run every snapshot of its config that no run has claimed yet, and returns them
// with their bodies together with those it claimed before (a retried run sees the same snapshots).
func (s *Store) ClaimSnapshots(ctx context.Context, run AuditRun) ([]GuestSnapshot, error) {
	var out []GuestSnapshot
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE guest_snapshots SET run_id = $2 WHERE config_name = $1 AND run_id IS NULL`,
			run.ConfigName, run.ID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+snapshotCols+`, body FROM guest_snapshots WHERE run_id = $1 ORDER BY id`, run.ID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (GuestSnapshot, error) {
			var g GuestSnapshot
			err := row.Scan(&g.ID, &g.ConfigName, &g.SHA256, &g.Size, &g.Host, &g.UploadedAt, &g.UploadedBy, &g.RunID, &g.Body)
			return g, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("run %d: claim guest snapshots: %w", run.ID, err)
	}
	return out, nil
}

// translate maps the service triggers' refusals to ErrConflict.
func translate(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "55000" { // object_not_in_prerequisite_state
		return fmt.Errorf("%w: %s", ErrConflict, pe.Message)
	}
	return err
}
