// Package schedule is varde's scheduled audit service core: uploaded audit configs, cron schedules with
// time zones, and audit runs as River jobs on the same PostgreSQL as the evidence. River stays behind this
// package; the HTTP API calls Service and reads through storage.
//
// A schedule's next planned time lives in Postgres and is advanced in the transaction that stores the
// run and inserts its River job, with the run unique per schedule and planned time: every replica may
// plan, and restarts, replicas and River leader changes neither skip nor double a run. A run missed while
// the service was down runs once when it is back, and its audit's header says it ran late. A scheduled
// quarterly config without a period of its own audits the last complete quarter before the planned time.
//
// A run has at most one audit, linked in the transaction that creates it. A job retried after a crash
// finds that audit: it is closed as interrupted once its process is gone (storage.Recover), and the run
// records that, so a retry never stores a second audit or duplicates evidence.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/varde/varde/job"
	"github.com/varde/varde/storage"
)

type pgxTx = pgx.Tx

// queueName is River's queue for audits.
const queueName = "varde_audits"

// JobDefaults are what job.Run needs beyond an uploaded config. The server's paths override the
// config's: an uploaded config cannot point the service at keys or output directories of its choosing.
type JobDefaults struct {
	// ConfigDir is where relative paths in uploaded configs (the inventory, GeoIP and cloud range
	// files) are resolved. Default: the working directory.
	ConfigDir string
	// KeysDir holds the signing CA and key (sign.SignerFile, sign.SignerKeyFile). Required unless
	// SignerCert is set. With InitKeys, they are made there when missing (demo).
	KeysDir  string
	InitKeys bool
	// SignerCert, SignerKey and PasswordEnv name a signing key pair instead of KeysDir.
	SignerCert, SignerKey, PasswordEnv string
	// TSAURL, when set, time-stamps the report signatures (and the evidence log's checkpoints).
	TSAURL string
	// LogKey and CheckpointsDir are the evidence log's note key and checkpoint directory; default
	// log.key and checkpoints/ in KeysDir (or beside SignerCert), as for `varde audit run`.
	LogKey, CheckpointsDir string
	// OutputDir is where reports are written. Required.
	OutputDir string
	// GeoIPDBs and CloudRanges, when set, replace the config's reference files.
	GeoIPDBs    []string
	CloudRanges []string
	// Emulator stands up lab targets (job.Options.Emulator); nil measures them over loopback.
	Emulator job.Emulator
	// Remote measures the vantages a config marks agent: true (job.Options.Remote); nil records them
	// as unavailable.
	Remote job.RemoteVantages
}

// Config configures a Service. Defaults are filled in by Validate.
type Config struct {
	// DatabaseURL is where River's own pool connects: the same database as Store, as varde_writer.
	DatabaseURL string
	// Store holds the evidence and the service's tables. Required.
	Store  *storage.Store
	Logger *slog.Logger
	// Now is the clock for planning and for the audits. Default time.Now.
	Now func() time.Time
	Job JobDefaults
	// Workers is how many audits this replica runs at once. Default 2; 0 with InsertOnly.
	Workers int
	// InsertOnly: an API-only replica; it enqueues runs (and plans schedules) but runs no jobs.
	InsertOnly bool
	// JobTimeout bounds one audit. Default 2h (River's own default is one minute).
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before River takes it for stuck (its process
	// gone) and retries it. Default JobTimeout + 10 minutes; at least JobTimeout.
	RescueAfter time.Duration
	// PollInterval is how often due schedules are looked for. Default 10s.
	PollInterval time.Duration
	// LateAfter: a run enqueued more than this after its planned time is recorded as late. Default 5m
	// (at least 2 PollIntervals).
	LateAfter time.Duration
	// MaxSnapshotBytes bounds an uploaded guest snapshot. Default 64 MiB.
	MaxSnapshotBytes int64
	// OnAuditDone, optional, hears every run that finished with an audit (for metrics), with the run's
	// final status and AuditID set. res is nil for a retried run that closed an earlier attempt's audit.
	OnAuditDone func(ctx context.Context, run storage.AuditRun, res *job.Result)
}

// Validate fills in defaults and checks the config.
func (c *Config) Validate() error {
	if c.Store == nil {
		return errors.New("schedule config: Store is required")
	}
	if c.DatabaseURL == "" {
		return errors.New("schedule config: DatabaseURL is required (River's pool)")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.InsertOnly {
		c.Workers = 0
	} else if c.Workers == 0 {
		c.Workers = 2
	}
	if c.Workers < 0 || c.Workers > 100 {
		return fmt.Errorf("schedule config: Workers %d: want 1 to 100", c.Workers)
	}
	if c.JobTimeout == 0 {
		c.JobTimeout = 2 * time.Hour
	}
	if c.JobTimeout < 0 {
		return fmt.Errorf("schedule config: JobTimeout %v is negative", c.JobTimeout)
	}
	if c.RescueAfter == 0 {
		c.RescueAfter = c.JobTimeout + 10*time.Minute
	}
	if c.RescueAfter < c.JobTimeout {
		return fmt.Errorf("schedule config: RescueAfter %v is shorter than JobTimeout %v: running audits would be taken for stuck", c.RescueAfter, c.JobTimeout)
	}
	if c.PollInterval == 0 {
		c.PollInterval = 10 * time.Second
	}
	if c.PollInterval < 0 {
		return fmt.Errorf("schedule config: PollInterval %v is negative", c.PollInterval)
	}
	if c.LateAfter == 0 {
		c.LateAfter = 5 * time.Minute
	}
	c.LateAfter = max(c.LateAfter, 2*c.PollInterval)
	if c.MaxSnapshotBytes == 0 {
		c.MaxSnapshotBytes = 64 << 20
	}
	// The server's paths are relative to its working directory, not to the uploaded config.
	for _, p := range []*string{&c.Job.ConfigDir, &c.Job.KeysDir, &c.Job.SignerCert, &c.Job.SignerKey, &c.Job.OutputDir,
		&c.Job.LogKey, &c.Job.CheckpointsDir} {
		if err := absPath(p); err != nil {
			return err
		}
	}
	for _, ps := range [][]string{c.Job.GeoIPDBs, c.Job.CloudRanges} {
		for i := range ps {
			if err := absPath(&ps[i]); err != nil {
				return err
			}
		}
	}
	if !c.InsertOnly {
		if c.Job.OutputDir == "" {
			return errors.New("schedule config: Job.OutputDir is required: where the reports go")
		}
		if c.Job.KeysDir == "" && c.Job.SignerCert == "" {
			return errors.New("schedule config: Job.KeysDir or Job.SignerCert is required: the reports are signed")
		}
	}
	return nil
}

func absPath(p *string) error {
	if *p == "" {
		return nil
	}
	a, err := filepath.Abs(*p)
	if err != nil {
		return fmt.Errorf("schedule config: %s: %w", *p, err)
	}
	*p = a
	return nil
}

// Service plans schedules, enqueues runs and, unless InsertOnly, runs audits.
type Service struct {
	cfg    Config
	store  *storage.Store
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx]
	log    *slog.Logger

	mu       sync.Mutex
	started  bool
	stopLoop context.CancelFunc
	loopDone chan struct{}
	stopped  bool
}

// New connects River's pool, checks River's schema and builds the client. It starts nothing.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("job queue: database URL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("job queue: cannot connect to the database: %w", err)
	}
	if err := checkQueueSchema(ctx, pool, cfg.Logger); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Service{cfg: cfg, store: cfg.Store, pool: pool, log: cfg.Logger}
	if !cfg.InsertOnly && !cfg.Job.InitKeys {
		if err := s.checkKeys(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	rc := &river.Config{
		Logger:               cfg.Logger,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		MaxAttempts:          maxAttempts,
		// varde_writer owns no index, so it cannot REINDEX; the owner's maintenance does that.
		ReindexerIndexNames: []string{},
	}
	if !cfg.InsertOnly {
		workers := river.NewWorkers()
		if err := river.AddWorkerSafely(workers, &auditWorker{s: s}); err != nil {
			pool.Close()
			return nil, err
		}
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{queueName: {MaxWorkers: cfg.Workers}}
	}
	client, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("job queue: %w", err)
	}
	s.client = client
	return s, nil
}

// Start closes audits whose process is gone (as interrupted), starts River's workers (unless
// InsertOnly) and the planner. River runs detached from ctx: Stop, not a cancelled ctx, ends it, so a
// signal drains rather than kills running audits.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("schedule: service already started")
	}
	if rec, err := s.store.Recover(ctx, s.cfg.Now()); err != nil {
		s.log.Warn("recover orphaned audits", "err", err)
	} else if len(rec) > 0 {
		s.log.Info("closed orphaned audits as interrupted", "audits", len(rec))
	}
	if !s.cfg.InsertOnly {
		if err := s.client.Start(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("job queue: start: %w", err)
		}
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopLoop, s.loopDone = cancel, make(chan struct{})
	go s.planLoop(lctx)
	s.started = true
	return nil
}

// Stop drains: the planner stops, River takes no new jobs, and running audits get until ctx is done to
// finish; then they are cancelled, and each records its audit as interrupted before Stop returns.
func (s *Service) Stop(ctx context.Context) error {
	// The lock is not held while draining: Ready must answer (not ready) at once meanwhile.
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	started := s.started
	s.mu.Unlock()
	var errs []error
	if started {
		s.stopLoop()
		<-s.loopDone
		if !s.cfg.InsertOnly {
			if err := s.client.Stop(ctx); err != nil {
				s.log.Warn("drain deadline passed; interrupting running audits", "err", err)
				// The jobs record their audits as interrupted; give that a bounded moment.
				hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
				errs = append(errs, s.client.StopAndCancel(hctx))
				cancel()
			}
		}
	}
	s.pool.Close()
	return errors.Join(errs...)
}

// Ready says whether this replica can serve: the database answers, both schemas are current, and the
// service has been started and not stopped.
func (s *Service) Ready(ctx context.Context) error {
	s.mu.Lock()
	started, stopped := s.started, s.stopped
	s.mu.Unlock()
	if !started || stopped {
		return errors.New("schedule: service not running")
	}
	if err := s.store.CheckSchema(ctx); err != nil {
		return err
	}
	return checkQueueSchema(ctx, s.pool, s.log)
}

// QueueDepth counts this service's River jobs by state (available, running, retryable, scheduled ...),
// for the queue depth metric. River's rows are the queue's bookkeeping; runs and audits are the record.
func (s *Service) QueueDepth(ctx context.Context) (map[string]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT state::text, count(*) FROM river_job WHERE queue = $1 AND finalized_at IS NULL GROUP BY state`, queueName)
	if err != nil {
		return nil, fmt.Errorf("job queue depth: %w", err)
	}
	out := map[string]int64{}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("job queue depth: %w", err)
		}
		out[st] = n
	}
	rows.Close()
	return out, rows.Err()
}

// planLoop enqueues due runs every PollInterval (and once at start, so a run missed while the service
// was down runs now).
func (s *Service) planLoop(ctx context.Context) {
	defer close(s.loopDone)
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		if _, err := s.EnqueueDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("plan schedules", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// EnqueueDue enqueues every run whose planned time has come by the service's clock, advancing each
// schedule in the same transaction, and returns the runs it enqueued. The planner calls it every
// PollInterval; tests with a clock of their own call it directly.
func (s *Service) EnqueueDue(ctx context.Context) ([]storage.AuditRun, error) {
	now := s.cfg.Now()
	runs, err := s.store.EnqueueDue(ctx, now, func(sc storage.Schedule) (storage.Due, error) {
		return plan(sc, now, s.cfg.LateAfter)
	}, s.enqueue)
	for _, r := range runs {
		s.log.Info("run enqueued", "run", r.ID, "config", r.ConfigName, "schedule", *r.ScheduleID,
			"planned_at", r.PlannedAt, "late", r.Late, "missed", r.Missed)
	}
	return runs, err
}

// plan makes the run for a due schedule: planned at its stored next time, late when that is more than
// lateAfter ago, standing in for every later planned time that has also passed; the schedule moves to
// the first planned time after now.
func plan(sc storage.Schedule, now time.Time, lateAfter time.Duration) (storage.Due, error) {
	sp, err := ParseSpec(sc.Spec)
	if err != nil {
		return storage.Due{}, err
	}
	missed := 0
	next := sp.Next(sc.NextRunAt)
	for !next.IsZero() && !next.After(now) && missed < 100_000 {
		missed++
		next = sp.Next(next)
	}
	if !next.After(now) {
		next = sp.Next(now)
	}
	if next.IsZero() {
		return storage.Due{}, fmt.Errorf("spec %q has no planned time after %s", sc.Spec, now.UTC().Format(time.RFC3339))
	}
	return storage.Due{
		Run: storage.NewRun{PlannedAt: sc.NextRunAt, EnqueuedAt: now, Late: now.Sub(sc.NextRunAt) > lateAfter,
			Missed: missed, RequestedBy: fmt.Sprintf("schedule %d", sc.ID)},
		Next: next,
	}, nil
}

// enqueue inserts the run's River job in the run's own transaction.
func (s *Service) enqueue(ctx context.Context, tx pgx.Tx, run storage.AuditRun) (int64, error) {
	res, err := s.client.InsertTx(ctx, tx, auditArgs{RunID: run.ID}, nil)
	if err != nil {
		return 0, err
	}
	return res.Job.ID, nil
}
