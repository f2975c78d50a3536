package main

// Fault tests of a service-run audit: an audit started through the API of a real `varde serve`, whose
// server gets SIGINT or SIGTERM, or whose Postgres is killed with SIGKILL, as each step of the audit
// starts. Afterwards every audit and every run is final (at once, or once the server is back), what the
// API reported done is stored as reported, each report file has its row and each row its file, every
// audit's chain holds, and no run has more than one audit.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp"
	"github.com/varde/varde/storage/pgtemp/pgtest"
)

func TestServeFaults(t *testing.T) {
	dir, bin, c := faultSetup(t)
	ctx := context.Background()
	if err := c.CreateDatabase(ctx, "varde"); err != nil {
		t.Fatal(err)
	}
	urls := pgtest.URLs{Super: c.URL("varde"), Owner: c.URLAs(pgtemp.OwnerRole, "varde"), Writer: c.URLAs(pgtemp.WriterRole, "varde")}
	env := newServeEnvOn(t, dir, bin, urls)
	collectSnapshot(t, bin, dir) // guest.tar.gz in the server's config directory
	cfg := fmt.Sprintf(`organisation: Feilfjord Service AS
period: 2026-Q3
vantages: [{name: oslo-nix-1, city: Oslo, latitude: 59.91, longitude: 10.75}]
probes: {icmp: false, tcp_count: 40, interval: 20ms}
targets: [{name: local, host: 127.0.0.1, port: %d}]
inventory: stores.yaml
guest: {snapshots: [guest.tar.gz]}
`, loopbackPort(t))
	// The config is uploaded once; each case then has a server of its own.
	first := env.start()
	env.must(201, "PUT", "/v1/configs/fault", "application/yaml", []byte(cfg), nil)
	first.Signal(syscall.SIGTERM)
	if err := waitExit(t, first, time.Minute); err != nil {
		t.Fatalf("varde serve after SIGTERM: %v", err)
	}

	type fault struct {
		name string
		// flags for the server; do fires the fault.
		flags []string
		do    func(p *os.Process) error
	}
	faults := []fault{
		// SIGINT with no time to drain: the running audit is cancelled and records itself interrupted.
		{"SIGINT", []string{"--drain-timeout", "1ms"}, func(p *os.Process) error { return p.Signal(syscall.SIGINT) }},
		// SIGTERM with the default drain: the running audit finishes, then the server exits.
		{"SIGTERM", nil, func(p *os.Process) error { return p.Signal(syscall.SIGTERM) }},
		{"postgres SIGKILL", nil, func(*os.Process) error { return killCluster(c.Dir()) }},
	}
	var matrix []string
	runs := 0
	for _, f := range faults {
		for _, step := range []string{"probes", "residency", "guest", "reports"} {
			t.Run(f.name+" at "+step, func(t *testing.T) {
				t0 := time.Now()
				se := *env
				se.t = t
				out := filepath.Join(dir, "out")
				os.RemoveAll(out)
				var (
					mu      sync.Mutex
					fired   bool
					faultEr error
					proc    *os.Process
					started = make(chan struct{})
				)
				se.watch = func(line string) {
					var l struct{ Msg, Progress string }
					if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "audit progress" || l.Progress != step+": running" {
						return
					}
					<-started
					mu.Lock()
					defer mu.Unlock()
					if !fired {
						fired, faultEr = true, f.do(proc)
					}
				}
				srv := se.start(f.flags...)
				proc = srv.Process
				close(started)
				var run storage.AuditRun
				se.must(202, "POST", "/v1/audits", "application/json", []byte(`{"config_name":"fault"}`), &run)
				runs++
				// What the API reports while the server is up: steps done, and the run's and audit's status
				// once final.
				rep := newReported(&se, run.ID)
				isDB := f.name == "postgres SIGKILL"
				var exitErr error
				serverGone := false
				// poll asks the API until it reports the run final, the server exits or within passes; with
				// untilFault, also until the fault has fired.
				poll := func(within time.Duration, untilFault bool) {
					for deadline := time.Now().Add(within); !serverGone && !rep.settled() && time.Now().Before(deadline); {
						mu.Lock()
						done := untilFault && fired
						mu.Unlock()
						if done {
							return
						}
						select {
						case <-srv.exited:
							exitErr, serverGone = srv.err, true
						case <-time.After(50 * time.Millisecond):
							rep.poll()
						}
					}
				}
				poll(3*time.Minute, isDB)
				mu.Lock()
				ok, ferr := fired, faultEr
				mu.Unlock()
				if !ok {
					t.Fatalf("step %s never started (run reported %s)", step, rep.run.Status)
				}
				if ferr != nil {
					t.Fatalf("fault: %v", ferr)
				}
				if isDB {
					if _, err := pgtemp.Start(ctx, pgtemp.Config{Dir: c.Dir()}); err != nil {
						t.Fatalf("restart the cluster: %v", err)
					}
					// The server lived through it: its pools reconnect, River records the job's error
					// and retries it, and the retry closes the run.
					t1 := time.Now()
					poll(45*time.Second, false)
					t.Logf("cluster back; same server settled the run: %v after %s", rep.settled(), time.Since(t1))
					srv.Signal(syscall.SIGTERM)
					exitErr = waitExit(t, srv, 2*time.Minute)
				} else if !serverGone {
					exitErr = waitExit(t, srv, 2*time.Minute)
				}
				code := exitCodeOf(exitErr)
				if want := map[string]int{"SIGINT": 130, "SIGTERM": 143, "postgres SIGKILL": 143}[f.name]; code != 0 && code != want {
					t.Errorf("server exit status %d after %s, want 0 (drained) or %d", code, f.name, want)
				}
				s, err := storage.Open(ctx, storage.Config{DatabaseURL: urls.Writer})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				before, err := s.GetRun(ctx, run.ID)
				if err != nil {
					t.Fatal(err)
				}
				// A server again (as after any fault): it closes what a gone process left running, and the
				// run is final once it is back, if it was not already; what was final stays as it was.
				se.start()
				se.waitRun(run.ID, 2*time.Minute, func(r storage.AuditRun) bool { return r.Status.Final() })
				after, err := s.GetRun(ctx, run.ID)
				if err != nil {
					t.Fatal(err)
				}
				rep.check(t, after)
				if after.Status == storage.RunSucceeded && after.AuditID != nil {
					// A succeeded run delivered its reports: the step is on record, with both reports.
					steps, _ := s.Steps(ctx, *after.AuditID)
					reps, _ := s.Reports(ctx, *after.AuditID)
					var done bool
					for _, st := range steps {
						done = done || (st.Step == "reports" && st.Status == "succeeded")
					}
					if !done || len(reps) != 2 {
						t.Errorf("run %d succeeded, but audit %d has steps %+v and %d reports", run.ID, *after.AuditID, steps, len(reps))
					}
				}
				checkAfterFault(t, urls.Writer, bin, out, "", rep.doneSteps())
				audits, err := s.ListAudits(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(audits) != runs {
					t.Errorf("%d audits for %d runs", len(audits), runs)
				}
				status := "?"
				if after.AuditID != nil {
					if a, err := s.GetAudit(ctx, *after.AuditID); err == nil {
						status = string(a.Status)
					}
				}
				mark := map[bool]string{true: "FAIL", false: "ok"}[t.Failed()]
				matrix = append(matrix, fmt.Sprintf("%-17s %-10s audit %-11s run %-11s final at exit %-5v steps reported %-40s %s %.1fs",
					f.name, step, status, after.Status, before.Status.Final(), rep.summary(), mark, time.Since(t0).Seconds()))
			})
		}
	}
	t.Logf("fault matrix:\n%s", strings.Join(matrix, "\n"))
}

// reported is what the API said about one run while its server was up.
type reported struct {
	se    *serveEnv
	id    int64
	run   storage.AuditRun
	audit storage.Audit
	steps map[string]string
}

func newReported(se *serveEnv, runID int64) *reported {
	return &reported{se: se, id: runID, steps: map[string]string{}}
}

// poll asks the API once; a server that is gone or a database that is down answers nothing.
func (r *reported) poll() {
	var run storage.AuditRun
	if code, _, err := r.se.try("GET", fmt.Sprintf("/v1/runs/%d", r.id), "", nil, &run); err != nil || code != 200 {
		return
	}
	r.run = run
	if run.AuditID == nil {
		return
	}
	var a storage.Audit
	if code, _, err := r.se.try("GET", fmt.Sprintf("/v1/audits/%d", *run.AuditID), "", nil, &a); err == nil && code == 200 {
		r.audit = a
	}
	var steps []storage.Step
	if code, _, err := r.se.try("GET", fmt.Sprintf("/v1/audits/%d/steps", *run.AuditID), "", nil, &steps); err == nil && code == 200 {
		for _, st := range steps {
			r.steps[st.Step] = st.Status
		}
	}
}

// settled: the API reported the run final.
func (r *reported) settled() bool { return r.run.ID != 0 && r.run.Status.Final() }

func (r *reported) doneSteps() map[string]string { return r.steps }

// check compares the run as stored at the end with what the API reported of it.
func (r *reported) check(t *testing.T, after storage.AuditRun) {
	t.Helper()
	if !after.Status.Final() {
		t.Errorf("run %d is %s", r.id, after.Status)
	}
	if r.settled() && after.Status != r.run.Status {
		t.Errorf("run %d: the API reported %s, stored is %s", r.id, r.run.Status, after.Status)
	}
	if r.run.AuditID != nil && (after.AuditID == nil || *after.AuditID != *r.run.AuditID) {
		t.Errorf("run %d: the API reported audit %d, stored is %v", r.id, *r.run.AuditID, after.AuditID)
	}
	if r.audit.Status.Final() {
		a, err := r.se.storeAudit(r.audit.ID)
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != r.audit.Status {
			t.Errorf("audit %d: the API reported %s, stored is %s", a.ID, r.audit.Status, a.Status)
		}
	}
}

func (r *reported) summary() string {
	var parts []string
	for _, st := range []string{"probes", "residency", "guest", "reports"} {
		if s, ok := r.steps[st]; ok {
			parts = append(parts, st+"="+s)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// storeAudit reads an audit from the database, not through a server that may be gone.
func (se *serveEnv) storeAudit(id int64) (storage.Audit, error) {
	ctx := context.Background()
	s, err := storage.Open(ctx, storage.Config{DatabaseURL: se.urls.Writer})
	if err != nil {
		return storage.Audit{}, err
	}
	defer s.Close()
	return s.GetAudit(ctx, id)
}

func waitExit(t *testing.T, p *serveProc, within time.Duration) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(within):
		t.Fatalf("varde serve still running %s after the fault", within)
		return nil
	}
}

func exitCodeOf(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return 0
}
