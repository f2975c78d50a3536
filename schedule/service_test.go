package schedule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/varde/varde/evidencelog"
	"github.com/varde/varde/guest"
	"github.com/varde/varde/job"
	"github.com/varde/varde/reports/sign"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp/pgtest"
)

// t0 is the tests' epoch: no test depends on today's date. Keys are made valid from it.
var t0 = time.Date(2026, 10, 1, 3, 30, 0, 0, time.UTC)

// testClock is a clock the test moves; every Service and audit in a test reads it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fastConfig is an audit of one lab target measured over loopback (no latency lab in these tests):
// a second or two, with both reports.
const fastConfig = `organisation: Fjordnett AS
kind: quarterly
period: 2026-Q3
vantages:
  - name: oslo-nix-1
    city: Oslo
    latitude: 59.91
    longitude: 10.75
probes:
  icmp: false
  tcp_count: 2
  interval: 10ms
targets:
  - name: nix
    lab_rtt: 2ms
`

// slowConfig probes for about five seconds, long enough to stop or kill a process mid-audit.
var slowConfig = strings.Replace(fastConfig, "tcp_count: 2\n  interval: 10ms", "tcp_count: 100\n  interval: 50ms", 1)

type testEnv struct {
	urls  pgtest.URLs
	store *storage.Store // as varde_writer
	dir   string
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	ctx := context.Background()
	urls := pgtest.DatabaseRoles(t)
	migrateEvidence(t, urls)
	if _, err := Migrate(ctx, urls.Owner, nil); err != nil {
		t.Fatal(err)
	}
	s, err := storage.Open(ctx, storage.Config{DatabaseURL: urls.Writer, MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	dir := t.TempDir()
	if _, err := sign.InitKeys(ctx, filepath.Join(dir, "keys"), sign.KeysConfig{Organization: "Fjordnett AS", Now: func() time.Time { return t0 }}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := evidencelog.EnsureKey(filepath.Join(dir, "keys"), job.DefaultLogName); err != nil {
		t.Fatal(err)
	}
	return &testEnv{urls: urls, store: s, dir: dir}
}

// migrateEvidence applies varde's own migrations as the owner and returns the owner's store.
func migrateEvidence(t *testing.T, urls pgtest.URLs) *storage.Store {
	t.Helper()
	ctx := context.Background()
	owner, err := storage.Open(ctx, storage.Config{DatabaseURL: urls.Owner, SkipSchemaCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(owner.Close)
	if _, err := owner.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return owner
}

func (e *testEnv) config(now func() time.Time) Config {
	return Config{DatabaseURL: e.urls.Writer, Store: e.store, Now: now, PollInterval: 40 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Job:    JobDefaults{ConfigDir: e.dir, KeysDir: filepath.Join(e.dir, "keys"), OutputDir: filepath.Join(e.dir, "out")}}
}

// service starts a Service; it is stopped (drained) when the test ends unless the test stops it first.
func (e *testEnv) service(t *testing.T, cfg Config) *Service {
	t.Helper()
	ctx := context.Background()
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s.Stop(ctx)
	})
	return s
}

func (e *testEnv) runs(t *testing.T) []storage.AuditRun {
	t.Helper()
	runs, _, err := e.store.ListRuns(context.Background(), storage.RunFilter{Limit: 1000}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *testEnv) waitFinal(t *testing.T, id int64, d time.Duration) storage.AuditRun {
	t.Helper()
	var r storage.AuditRun
	waitFor(t, fmt.Sprintf("run %d to finish", id), d, func() bool {
		var err error
		r, err = e.store.GetRun(context.Background(), id)
		return err == nil && r.Status.Final()
	})
	return r
}

// header returns the run an audit's chain header records.
func (e *testEnv) header(t *testing.T, auditID int64) *storage.HeaderRun {
	t.Helper()
	es, err := e.store.Entries(context.Background(), auditID)
	if err != nil || len(es) == 0 {
		t.Fatalf("entries of audit %d: %v", auditID, err)
	}
	var h storage.Header
	if err := json.Unmarshal(es[0].Body, &h); err != nil {
		t.Fatal(err)
	}
	if h.Run == nil {
		t.Fatalf("audit %d's header records no run: %s", auditID, es[0].Body)
	}
	return h.Run
}

func (e *testEnv) verify(t *testing.T, auditID int64) {
	t.Helper()
	rep, err := e.store.Verify(context.Background(), auditID)
	if err != nil || !rep.OK() {
		t.Errorf("audit %d's chain: %+v %v", auditID, rep, err)
	}
}

// sealed checks the audit is a leaf of the evidence log, once.
func (e *testEnv) sealed(t *testing.T, auditID int64) {
	t.Helper()
	leaves, err := e.store.LogLeaves(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range leaves {
		if l.Kind == "audit" && l.AuditID == auditID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("audit %d is %d leaves of the evidence log, want 1", auditID, n)
	}
}

// With a clock the test controls, a schedule fires exactly once at its time across two Service
// instances and a restart of one of them.
func TestScheduleFiresOnceAcrossReplicasAndRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	clk := &testClock{t: time.Date(2026, 10, 1, 3, 59, 0, 0, time.UTC)} // 05:59 in Oslo (CEST)
	a := e.service(t, e.config(clk.Now))
	b := e.service(t, e.config(clk.Now))
	if _, err := a.PutConfig(ctx, "nix-daily", []byte(fastConfig), "test"); err != nil {
		t.Fatal(err)
	}
	sc, err := b.CreateSchedule(ctx, storage.NewSchedule{ConfigName: "nix-daily", Spec: "CRON_TZ=Europe/Oslo 0 6 * * *", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	planned := time.Date(2026, 10, 1, 4, 0, 0, 0, time.UTC)
	if !sc.NextRunAt.Equal(planned) || sc.TimeZone != "Europe/Oslo" {
		t.Fatalf("schedule %+v: want next run at %v", sc, planned)
	}
	time.Sleep(300 * time.Millisecond) // several planning rounds of both replicas
	if runs := e.runs(t); len(runs) != 0 {
		t.Fatalf("runs before the planned time: %+v", runs)
	}
	clk.Set(planned.Add(2 * time.Second))
	waitFor(t, "the run", 10*time.Second, func() bool { return len(e.runs(t)) > 0 })
	time.Sleep(300 * time.Millisecond)
	// A restart of one replica while the other runs on.
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	if err := a.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	e.service(t, e.config(clk.Now))
	time.Sleep(300 * time.Millisecond)
	runs := e.runs(t)
	if len(runs) != 1 {
		t.Fatalf("%d runs for one planned time: %+v", len(runs), runs)
	}
	r := e.waitFinal(t, runs[0].ID, time.Minute)
	if r.Status != storage.RunSucceeded || r.Late || r.Missed != 0 || !r.PlannedAt.Equal(planned) || r.AuditID == nil || r.Attempts != 1 {
		t.Fatalf("run %+v", r)
	}
	e.sealed(t, *r.AuditID)
	h := e.header(t, *r.AuditID)
	if h.ID != r.ID || h.Late || h.PlannedAt != "2026-10-01T04:00:00Z" || h.ScheduleID == nil || *h.ScheduleID != sc.ID {
		t.Errorf("header run %+v", h)
	}
	e.verify(t, *r.AuditID)
	got, err := e.store.GetSchedule(ctx, sc.ID)
	if err != nil || !got.NextRunAt.Equal(planned.Add(24*time.Hour)) || got.LastRunID == nil || *got.LastRunID != r.ID {
		t.Errorf("schedule after its run: %+v %v", got, err)
	}
	if as, _ := e.store.ListAudits(ctx); len(as) != 1 {
		t.Errorf("%d audits, want 1", len(as))
	}
}

// A run missed while the service was down runs once when it is back, and says it ran late.
func TestMissedRunRunsOnceLate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	clk := &testClock{t: t0}
	a := e.service(t, e.config(clk.Now))
	// Without a period of its own, a scheduled quarterly audit covers the last complete quarter.
	noPeriod := strings.Replace(fastConfig, "period: 2026-Q3\n", "", 1)
	if _, err := a.PutConfig(ctx, "hourly", []byte(noPeriod), "test"); err != nil {
		t.Fatal(err)
	}
	sc, err := a.CreateSchedule(ctx, storage.NewSchedule{ConfigName: "hourly", Spec: "@hourly", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := a.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	// Down from 03:30 to 07:20: 04:00, 05:00, 06:00 and 07:00 pass. Two replicas come back at once.
	clk.Set(time.Date(2026, 10, 1, 7, 20, 0, 0, time.UTC))
	e.service(t, e.config(clk.Now))
	e.service(t, e.config(clk.Now))
	waitFor(t, "the late run", 10*time.Second, func() bool { return len(e.runs(t)) > 0 })
	time.Sleep(300 * time.Millisecond)
	runs := e.runs(t)
	if len(runs) != 1 {
		t.Fatalf("%d runs after the downtime, want 1: %+v", len(runs), runs)
	}
	r := e.waitFinal(t, runs[0].ID, time.Minute)
	if r.Status != storage.RunSucceeded || !r.Late || r.Missed != 3 || !r.PlannedAt.Equal(time.Date(2026, 10, 1, 4, 0, 0, 0, time.UTC)) {
		t.Fatalf("late run %+v", r)
	}
	if h := e.header(t, *r.AuditID); !h.Late || h.Missed != 3 || h.PlannedAt != "2026-10-01T04:00:00Z" {
		t.Errorf("the audit's header does not say it ran late: %+v", h)
	}
	e.verify(t, *r.AuditID)
	if a, err := e.store.GetAudit(ctx, *r.AuditID); err != nil || a.PeriodStart == nil || !a.PeriodStart.Equal(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("audit period starts %v (%v), want 2026-07-01 (Q3)", a.PeriodStart, err)
	}
	if got, _ := e.store.GetSchedule(ctx, sc.ID); !got.NextRunAt.Equal(time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("next run at %v, want 08:00", got.NextRunAt)
	}
}

// Bad input is an InputError naming the field, or a not-found; nothing half is stored.
func TestServiceInputErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(e.dir, "stores.yaml"), []byte("stores: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := e.service(t, e.config(func() time.Time { return t0 }))
	for _, tc := range []struct {
		name, cfg, body, field, want string
	}{
		{"bad name", "Quarterly Audit", fastConfig, "name", "want 1 to 64"},
		{"empty", "q", "", "body", "empty"},
		{"not yaml", "q", "{{{", "body", "did not find"},
		{"unknown field", "q", fastConfig + "colour: blue\n", "body", "colour"},
		{"no targets", "q", strings.Split(fastConfig, "targets:")[0], "body", "targets"},
		{"absolute inventory", "q", fastConfig + "inventory: /etc/shadow\n", "body", "relative to the server's config directory"},
		{"escaping inventory", "q", fastConfig + "inventory: ../x.yaml\n", "body", "without .."},
		{"missing inventory", "q", fastConfig + "inventory: nope.yaml\n", "body", "no such file"},
		{"absolute rtt file", "q", fastConfig + "rtt_files: [/etc/passwd]\n", "body", "rtt_files"},
		{"io_dir", "q", fastConfig + "guest:\n  io_dir: /var\n", "body", "io_dir"},
	} {
		_, err := s.PutConfig(ctx, tc.cfg, []byte(tc.body), "test")
		var ie *InputError
		if !errors.As(err, &ie) || ie.Field != tc.field || !strings.Contains(ie.Problem, tc.want) {
			t.Errorf("%s: %v, want an input error on %s containing %q", tc.name, err, tc.field, tc.want)
		}
	}
	if cs, _ := e.store.ListConfigs(ctx); len(cs) != 0 {
		t.Errorf("refused configs were stored: %+v", cs)
	}
	// JSON is taken as YAML is, and an inventory beside the server's configs is fine.
	js := `{"organisation": "Fjordnett AS", "vantages": [{"name": "v", "latitude": 1, "longitude": 2}], "inventory": "stores.yaml",
		"targets": [{"name": "t", "lab_rtt": "2ms"}]}`
	c1, err := s.PutConfig(ctx, "json", []byte(js), "test")
	if err != nil || c1.Version != 1 {
		t.Fatalf("JSON config: %+v %v", c1, err)
	}
	if c, err := s.PutConfig(ctx, "json", []byte(js), "again"); err != nil || c.Version != 1 {
		t.Errorf("unchanged upload: %+v %v", c, err)
	}
	var ie *InputError
	if _, err := s.CreateSchedule(ctx, storage.NewSchedule{ConfigName: "json", Spec: "0 6 * *"}); !errors.As(err, &ie) || ie.Field != "spec" {
		t.Errorf("bad spec: %v", err)
	}
	if _, err := s.CreateSchedule(ctx, storage.NewSchedule{ConfigName: "nope", Spec: "@daily"}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("schedule of a missing config: %v", err)
	}
	if _, err := s.UpdateSchedule(ctx, 42, storage.NewSchedule{ConfigName: "json", Spec: "@daily"}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("update of a missing schedule: %v", err)
	}
	if _, err := s.SetScheduleEnabled(ctx, 42, true); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("enable a missing schedule: %v", err)
	}
	if _, err := s.RunNow(ctx, "nope", "test"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("run of a missing config: %v", err)
	}
	if _, err := s.AddSnapshot(ctx, "json", strings.NewReader("not a tarball"), "test"); !errors.As(err, &ie) || ie.Field != "archive" {
		t.Errorf("garbage snapshot: %v", err)
	}
	if _, err := s.AddSnapshot(ctx, "json", bytes.NewReader(make([]byte, 65<<20)), "test"); !errors.As(err, &ie) || !strings.Contains(ie.Problem, "over the limit") {
		t.Errorf("huge snapshot: %v", err)
	}
	if _, err := s.AddSnapshot(ctx, "nope", snapshot(t), "test"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("snapshot for a missing config: %v", err)
	}
	// Disabled and enabled again, a schedule plans from now.
	sc, err := s.CreateSchedule(ctx, storage.NewSchedule{ConfigName: "json", Spec: "@daily", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if sc, err = s.SetScheduleEnabled(ctx, sc.ID, false); err != nil || sc.Enabled {
		t.Errorf("disable: %+v %v", sc, err)
	}
	if sc, err = s.UpdateSchedule(ctx, sc.ID, storage.NewSchedule{ConfigName: "json", Spec: "CRON_TZ=Europe/Oslo @quarterly", Enabled: true}); err != nil ||
		!sc.NextRunAt.Equal(time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC)) || !sc.Enabled {
		t.Errorf("update: %+v %v", sc, err)
	}
}

func snapshot(t *testing.T) *bytes.Reader {
	t.Helper()
	root, err := guest.DirRoot("../guest/testdata/fixtures/kvm-modern")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := guest.Collect(context.Background(), root, &buf, guest.Config{SkipIO: true, Now: func() time.Time { return t0 },
		Sleep: func(context.Context, time.Duration) error { return nil }}); err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(buf.Bytes())
}

// A snapshot uploaded for a config is checked by that config's next audit, and by no later one.
func TestSnapshotGoesToNextAudit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.service(t, e.config(func() time.Time { return t0 }))
	if _, err := s.PutConfig(ctx, "q", []byte(fastConfig), "test"); err != nil {
		t.Fatal(err)
	}
	g, err := s.AddSnapshot(ctx, "q", snapshot(t), "ops")
	if err != nil || g.Host == "" {
		t.Fatalf("snapshot: %+v %v", g, err)
	}
	var counts []int
	for range 2 {
		r, err := s.RunNow(ctx, "q", "alice")
		if err != nil {
			t.Fatal(err)
		}
		r = e.waitFinal(t, r.ID, time.Minute)
		if r.Status != storage.RunSucceeded || r.RequestedBy != "alice" {
			t.Fatalf("run %+v", r)
		}
		crs, err := e.store.CheckResults(ctx, *r.AuditID)
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, len(crs))
	}
	if counts[0] == 0 || counts[1] != 0 {
		t.Errorf("check results of the two audits: %v, want some in the first only", counts)
	}
}

// SIGTERM drains: with a drain deadline shorter than the audit, the running audit is recorded as
// interrupted, its evidence verifies, and the run says so.
func TestStopInterruptsRunningAudit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	clk := func() time.Time { return t0 }
	s := e.service(t, e.config(clk))
	if _, err := s.PutConfig(ctx, "slow", []byte(slowConfig), "test"); err != nil {
		t.Fatal(err)
	}
	r, err := s.RunNow(ctx, "slow", "test")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the audit to start", 30*time.Second, func() bool {
		got, _ := e.store.GetRun(ctx, r.ID)
		return got.AuditID != nil
	})
	sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop(sctx) }()
	// While it drains, the replica says it is not ready, at once.
	time.Sleep(100 * time.Millisecond)
	rctx, rcancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer rcancel()
	if err := s.Ready(rctx); err == nil || rctx.Err() != nil {
		t.Errorf("ready while draining: %v (context %v), want a prompt not-ready", err, rctx.Err())
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	got, err := e.store.GetRun(ctx, r.ID)
	if err != nil || got.Status != storage.RunInterrupted {
		t.Fatalf("run after a drain that timed out: %+v %v", got, err)
	}
	a, err := e.store.GetAudit(ctx, *got.AuditID)
	if err != nil || a.Status != storage.StatusInterrupted {
		t.Errorf("audit %+v %v", a, err)
	}
	e.verify(t, a.ID)
}

const (
	childEnv    = "VARDE_SCHEDULE_TEST_WORKER"
	childURLEnv = "VARDE_SCHEDULE_TEST_URL"
	childDirEnv = "VARDE_SCHEDULE_TEST_DIR"
)

// childMain is a worker replica in a process of its own, for the test to SIGKILL mid-audit.
func childMain() int {
	ctx := context.Background()
	st, err := storage.Open(ctx, storage.Config{DatabaseURL: os.Getenv(childURLEnv)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	e := &testEnv{urls: pgtest.URLs{Writer: os.Getenv(childURLEnv)}, store: st, dir: os.Getenv(childDirEnv)}
	cfg := e.config(func() time.Time { return t0 })
	cfg.Workers = 1
	s, err := New(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := s.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	select {} // until killed
}

// A worker process killed (SIGKILL) mid-audit: a new Service closes the orphaned audit as interrupted,
// River retries the job, and the retry records the run as interrupted without a second audit. What was
// stored verifies.
func TestJobRetriedAfterKillDuplicatesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	clk := func() time.Time { return t0 }
	api := e.config(clk)
	api.InsertOnly = true
	front := e.service(t, api)
	if _, err := front.PutConfig(ctx, "slow", []byte(slowConfig), "test"); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childURLEnv+"="+e.urls.Writer, childDirEnv+"="+e.dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r, err := front.RunNow(ctx, "slow", "test")
	if err != nil {
		t.Fatal(err)
	}
	var auditID int64
	waitFor(t, "the worker process to start the audit", time.Minute, func() bool {
		got, _ := e.store.GetRun(ctx, r.ID)
		if got.AuditID != nil {
			auditID = *got.AuditID
		}
		return auditID != 0
	})
	time.Sleep(500 * time.Millisecond) // mid-probes
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if a, _ := e.store.GetAudit(ctx, auditID); a.Status != storage.StatusRunning {
		t.Fatalf("audit %d after the kill: %s, want still running", auditID, a.Status)
	}
	// A new worker replica; River takes the dead process's job for stuck after RescueAfter.
	cfg := e.config(clk)
	cfg.JobTimeout, cfg.RescueAfter = 2*time.Second, 2*time.Second
	e.service(t, cfg)
	got := e.waitFinal(t, r.ID, 2*time.Minute)
	if got.Status != storage.RunInterrupted || got.AuditID == nil || *got.AuditID != auditID || got.Attempts != 2 {
		t.Fatalf("run after the kill and retry: %+v", got)
	}
	if as, _ := e.store.ListAudits(ctx); len(as) != 1 || as[0].Status != storage.StatusInterrupted {
		t.Errorf("audits: %+v, want one, interrupted", as)
	}
	e.verify(t, auditID)
	e.sealed(t, auditID)
	conn, err := pgx.Connect(ctx, e.urls.Super)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// River records the job's completion in batches, a moment after the run's own row.
	waitFor(t, "River to complete the retried job", 30*time.Second, func() bool {
		var state string
		err := conn.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, *got.JobID).Scan(&state)
		return err == nil && state == "completed"
	})
}

// An API-only replica enqueues and runs nothing; the queue depth shows what waits.
func TestInsertOnlyQueueDepth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cfg := e.config(func() time.Time { return t0 })
	cfg.InsertOnly, cfg.Job = true, JobDefaults{}
	s := e.service(t, cfg)
	if _, err := s.PutConfig(ctx, "q", []byte(fastConfig), "test"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.RunNow(ctx, "q", "test"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	d, err := s.QueueDepth(ctx)
	if err != nil || d["available"] != 2 || len(d) != 1 {
		t.Errorf("queue depth %v %v, want 2 available", d, err)
	}
	if err := s.Ready(ctx); err != nil {
		t.Errorf("ready: %v", err)
	}
	for _, r := range e.runs(t) {
		if r.Status != storage.RunQueued {
			t.Errorf("run %d is %s on an insert-only replica", r.ID, r.Status)
		}
	}
}

// The service refuses a database whose job queue schema `varde db migrate` has not made.
func TestRefusesMissingQueueSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	urls := pgtest.DatabaseRoles(t)
	owner := migrateEvidence(t, urls)
	e := &testEnv{urls: urls, store: owner, dir: t.TempDir()}
	cfg := e.config(time.Now)
	cfg.Job.KeysDir = e.dir
	if _, err := New(ctx, cfg); !errors.Is(err, ErrQueueSchemaBehind) || !strings.Contains(err.Error(), "varde db migrate") {
		t.Errorf("New on a database without River's schema: %v", err)
	}
	// Applied, the migration is idempotent.
	if _, err := Migrate(ctx, urls.Owner, nil); err != nil {
		t.Fatal(err)
	}
	// A worker replica without the signing and evidence log keys refuses to start, naming what is missing.
	if _, err := New(ctx, cfg); err == nil || !strings.Contains(err.Error(), e.dir) {
		t.Errorf("New without keys: %v", err)
	}
	res, err := Migrate(ctx, urls.Owner, nil)
	if err != nil || len(res.Applied) != 0 || res.Version == 0 {
		t.Errorf("second migrate: %+v %v", res, err)
	}
}

// A retried job whose run already has an audit never makes a second one: while a live process holds
// the audit the job waits (snoozes); once none does, the audit is closed as interrupted and so is the run.
func TestRetryFindsItsAudit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cfg := e.config(func() time.Time { return t0 })
	cfg.InsertOnly = true // the test works the job itself
	var done []storage.AuditRun
	cfg.OnAuditDone = func(_ context.Context, run storage.AuditRun, res *job.Result) {
		if res == nil {
			done = append(done, run)
		}
	}
	s := e.service(t, cfg)
	if _, err := s.PutConfig(ctx, "q", []byte(fastConfig), "test"); err != nil {
		t.Fatal(err)
	}
	r, err := s.RunNow(ctx, "q", "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.StartRun(ctx, r.ID, t0); err != nil {
		t.Fatal(err)
	}
	// What a first attempt leaves when it dies right after creating its audit.
	a, err := e.store.CreateAudit(ctx, storage.NewAudit{Kind: storage.KindQuarterly, Organisation: "Fjordnett AS",
		StartedAt: t0, ToolVersion: "test", RulesVersion: "r", Config: []byte(`{}`), RunID: r.ID,
		Header: &storage.Header{Build: map[string]string{}, Run: &storage.HeaderRun{ID: r.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateAudit(ctx, storage.NewAudit{Kind: storage.KindQuarterly, StartedAt: t0, Config: []byte(`{}`),
		RunID: r.ID, Header: &storage.Header{}}); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("a second audit for the run: %v", err)
	}
	w := &auditWorker{s: s}
	j := &river.Job[auditArgs]{JobRow: &rivertype.JobRow{Attempt: 2}, Args: auditArgs{RunID: r.ID}}
	hold, err := e.store.HoldAudit(ctx, a.ID) // a live owner
	if err != nil {
		t.Fatal(err)
	}
	var snooze *river.JobSnoozeError
	if err := w.Work(ctx, j); !errors.As(err, &snooze) {
		t.Errorf("retry while the audit is held: %v, want a snooze", err)
	}
	hold.Release()
	// The server drops the lock when it notices the closed session, a moment later: until then the job
	// snoozes again, as River would retry it.
	var werr error
	waitFor(t, "the retry once the hold is gone", 10*time.Second, func() bool {
		werr = w.Work(ctx, j)
		return !errors.As(werr, &snooze)
	})
	if werr != nil {
		t.Fatal(werr)
	}
	got, err := e.store.GetRun(ctx, r.ID)
	if err != nil || got.Status != storage.RunInterrupted || got.AuditID == nil || *got.AuditID != a.ID || !strings.Contains(got.Error, "earlier attempt") {
		t.Errorf("run %+v %v", got, err)
	}
	if as, _ := e.store.ListAudits(ctx); len(as) != 1 || as[0].Status != storage.StatusInterrupted {
		t.Errorf("audits %+v, want one, interrupted", as)
	}
	e.verify(t, a.ID)
	e.sealed(t, a.ID)
	// Once more, as River might: the run is final and nothing changes.
	if err := w.Work(ctx, j); err != nil {
		t.Errorf("third attempt: %v", err)
	}
	if len(done) != 1 || done[0].Status != storage.RunInterrupted || *done[0].AuditID != a.ID {
		t.Errorf("OnAuditDone heard %+v, want the interrupted run once", done)
	}
}

// A run whose config no longer validates on this server fails at once, naming why; a run that keeps
// failing for another reason is recorded failed on River's last attempt, never left queued.
func TestRunFailuresAreRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(e.dir, "stores.yaml"), []byte("stores: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(func() time.Time { return t0 })
	cfg.InsertOnly = true // the test works the jobs itself
	s := e.service(t, cfg)
	if _, err := s.PutConfig(ctx, "inv", []byte(fastConfig+"inventory: stores.yaml\n"), "test"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(e.dir, "stores.yaml")); err != nil {
		t.Fatal(err)
	}
	w := &auditWorker{s: s}
	r1, err := s.RunNow(ctx, "inv", "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Work(ctx, &river.Job[auditArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: maxAttempts}, Args: auditArgs{RunID: r1.ID}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.store.GetRun(ctx, r1.ID); got.Status != storage.RunFailed || !strings.Contains(got.Error, "no longer validates") || got.AuditID != nil {
		t.Errorf("run of a config that no longer validates: %+v", got)
	}
	r2, err := s.RunNow(ctx, "inv", "test")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, e.urls.Super)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `REVOKE SELECT ON audit_configs FROM varde_writer`); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		err := w.Work(ctx, &river.Job[auditArgs]{JobRow: &rivertype.JobRow{Attempt: attempt, MaxAttempts: maxAttempts}, Args: auditArgs{RunID: r2.ID}})
		if err == nil {
			t.Fatalf("attempt %d without its config succeeded", attempt)
		}
		got, _ := e.store.GetRun(ctx, r2.ID)
		if final := got.Status.Final(); final != (attempt == maxAttempts) {
			t.Errorf("after attempt %d the run is %s", attempt, got.Status)
		}
		if attempt == maxAttempts && (got.Status != storage.RunFailed || !strings.Contains(got.Error, "gave up after 5 attempts")) {
			t.Errorf("run after the last attempt: %+v", got)
		}
	}
}

// A run whose reports could not be made did not deliver what it was for: the audit is final with its
// evidence, but the run is partial and names the failed step.
func TestRunWithFailedReportsIsPartial(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cfg := e.config(func() time.Time { return t0 })
	cfg.Job.OutputDir = filepath.Join(e.dir, "not-a-directory")
	if err := os.WriteFile(cfg.Job.OutputDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := e.service(t, cfg)
	if _, err := s.PutConfig(ctx, "q", []byte(fastConfig), "test"); err != nil {
		t.Fatal(err)
	}
	r, err := s.RunNow(ctx, "q", "alice")
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitFinal(t, r.ID, time.Minute)
	if r.Status != storage.RunPartial || !strings.Contains(r.Error, "step reports failed") {
		t.Fatalf("run %s: %q, want partial naming the reports step", r.Status, r.Error)
	}
	e.verify(t, *r.AuditID)
}
