package agentsrv_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/varde/varde/agent"
	"github.com/varde/varde/agentwire"
	"github.com/varde/varde/job"
	"github.com/varde/varde/probes"
	"github.com/varde/varde/storage"
)

// auditConfig measures TCP to the given loopback listeners from the named remote vantages; the local
// vantage oslo measures too.
func auditConfig(t *testing.T, addrs []string, deadline time.Duration, remote ...string) *job.Config {
	t.Helper()
	dir := t.TempDir()
	no := false
	cfg := &job.Config{Organisation: "Fjordnett AS", Kind: job.KindAdHoc, Vantage: "oslo",
		Vantages: []job.Vantage{{Name: "oslo", Latitude: 59.91, Longitude: 10.75}},
		Probes:   job.Probes{ICMP: &no, TCPCount: 3, Interval: job.Duration(10 * time.Millisecond), Timeout: job.Duration(time.Second), AgentDeadline: job.Duration(deadline)},
		Signing:  job.Signing{KeysDir: filepath.Join(dir, "keys"), Init: true}, OutputDir: filepath.Join(dir, "out")}
	coords := map[string][2]float64{"bergen": {60.39, 5.32}, "stockholm": {59.33, 18.07}, "trondheim": {63.43, 10.39}}
	for _, v := range remote {
		cfg.Vantages = append(cfg.Vantages, job.Vantage{Name: v, Latitude: coords[v][0], Longitude: coords[v][1], Agent: true})
	}
	for i, a := range addrs {
		host, port, _ := net.SplitHostPort(a)
		p, _ := strconv.Atoi(port)
		cfg.Targets = append(cfg.Targets, job.Target{Name: "target-" + strconv.Itoa(i), Host: host, Port: p})
	}
	return cfg
}

// provenanceOf reads the agent provenance stored in a measurement's stats.
func provenanceOf(t *testing.T, m storage.Measurement) map[string]any {
	t.Helper()
	var st struct {
		Agent map[string]any `json:"agent"`
	}
	if err := json.Unmarshal(m.Stats, &st); err != nil {
		t.Fatal(err)
	}
	return st.Agent
}

func byVantage(ms []storage.Measurement) map[string][]storage.Measurement {
	out := map[string][]storage.Measurement{}
	for _, m := range ms {
		out[m.Vantage] = append(out[m.Vantage], m)
	}
	return out
}

func stepOf(res *job.Result, name string) storage.Step {
	for _, st := range res.Steps {
		if st.Step == name {
			return st
		}
	}
	return storage.Step{}
}

// Acceptance 2a: kill one agent mid-audit: its lease moves to a second agent of the same vantage, with
// the attempt raised; the first agent's late result is refused with 409.
func TestLeaseMovesToSecondAgent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	addrs := listeners(t, 3)
	started := make(chan struct{})
	first := e.enrol("bergen", func(c *agent.Config) {
		c.Measure = func(ctx context.Context, _ string, _ agentwire.Spec) ([]probes.Result, error) {
			close(started)
			<-ctx.Done() // the agent dies while measuring: no result, no more heartbeats
			return nil, ctx.Err()
		}
	})
	second := e.enrol("bergen", nil)
	runCtx, kill := context.WithCancel(ctx)
	go first.Run(runCtx)

	type out struct {
		res *job.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := job.Run(ctx, auditConfig(t, addrs, time.Minute, "bergen"), job.Options{Store: e.store, Now: e.clock.Now, Remote: e.srv})
		done <- out{res, err}
	}()
	<-started
	kill()
	// The second agent only starts now: the lease it gets must be the first one's, expired.
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go second.Run(sctx)
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.res.Status != storage.StatusSucceeded {
		t.Fatalf("status %s, steps %+v", o.res.Status, o.res.Steps)
	}
	ms, err := e.store.Measurements(ctx, o.res.AuditID)
	if err != nil {
		t.Fatal(err)
	}
	bergen := byVantage(ms)["bergen"]
	if len(bergen) != 3 {
		t.Fatalf("%d bergen measurements, want 3", len(bergen))
	}
	for _, m := range bergen {
		pv := provenanceOf(t, m)
		if int64(pv["agent_id"].(float64)) != second.Identity().AgentID || pv["attempt"].(float64) != 2 || m.Tool != "varde-agent" {
			t.Errorf("measurement %s: provenance %v, tool %s", m.Target, pv, m.Tool)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM agent_leases WHERE agent_id = $1 AND attempt = 1`, first.Identity().AgentID); n != 1 {
		t.Errorf("first agent's lease of attempt 1: %d rows", n)
	}
	if !o.res.Chain.OK() {
		t.Errorf("chain: %+v", o.res.Chain)
	}
}

// A result for an old attempt is refused with 409 and stored nowhere; the same result posted twice is
// stored once.
func TestStaleAttemptAndDuplicate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	x, y := e.rawEnrol(t, "bergen"), e.rawEnrol(t, "bergen")
	auditID := e.newAudit()
	done := e.startProbe(auditID, "bergen", listeners(t, 2), time.Minute)
	var t1 *agentwire.Task
	for t1 == nil {
		t1 = x.lease(t)
	}
	e.clock.Advance(3 * time.Second) // past the 2s lease: x is presumed dead
	t2 := y.lease(t)
	if t2 == nil || t2.TaskID != t1.TaskID || t2.Attempt != 2 {
		t.Fatalf("second lease: %+v (first %+v)", t2, t1)
	}
	// x comes back: its heartbeat and its result are refused.
	hb, _ := json.Marshal(agentwire.Heartbeat{TaskID: t1.TaskID, Attempt: 1})
	if st, body := x.do(t, agentwire.PathHeartbeat, hb, nil); st != http.StatusConflict {
		t.Errorf("stale heartbeat: %d %s", st, body)
	}
	if st, body := x.postResult(t, x.result(t1, "bergen", time.Millisecond), x.key); st != http.StatusConflict {
		t.Errorf("stale result: %d %s", st, body)
	}
	e.wantRefusal(t, http.StatusConflict, "the task is at attempt 2")
	body := y.result(t2, "bergen", 2*time.Millisecond)
	for i := range 2 {
		if st, resp := y.postResult(t, body, y.key); st != http.StatusOK || strings.Contains(resp, `"stored":true`) != (i == 0) {
			t.Errorf("post %d: %d %s", i, st, resp)
		}
	}
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	if n := e.count(t, `SELECT count(*) FROM agent_results`); n != 1 {
		t.Errorf("%d results stored", n)
	}
	if n := e.count(t, `SELECT count(*) FROM measurements WHERE audit_id = $1`, auditID); n != 2 {
		t.Errorf("%d measurements stored, want 2", n)
	}
	for _, r := range o.rs {
		if r.Stats.Min != 2*time.Millisecond {
			t.Errorf("%s: min %v: not y's result", r.Target, r.Stats.Min)
		}
	}
}

// Acceptance 2b: with no live agent of a vantage by the deadline, the audit ends partial ("completed
// with gaps") with a vantage_unavailable step naming the vantage; no other vantage stands in for it.
func TestVantageUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	addrs := listeners(t, 2)
	bergen := e.enrol("bergen", nil)
	// An agent of another vantage is live and idle the whole time.
	other := e.enrol("trondheim", nil)
	actx, stop := context.WithCancel(ctx)
	defer stop()
	go bergen.Run(actx)
	go other.Run(actx)
	res, err := job.Run(ctx, auditConfig(t, addrs, 3*time.Second, "bergen", "stockholm"), job.Options{Store: e.store, Now: e.clock.Now, Remote: e.srv})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != storage.StatusPartial {
		t.Fatalf("status %s, want partial", res.Status)
	}
	st := stepOf(res, "probes@stockholm")
	if st.Status != string(job.StepFailed) || !strings.HasPrefix(st.Message, "vantage_unavailable: vantage stockholm") {
		t.Errorf("stockholm step: %+v", st)
	}
	if st := stepOf(res, "probes@bergen"); st.Status != string(job.StepSucceeded) {
		t.Errorf("bergen step: %+v", st)
	}
	ms, err := e.store.Measurements(ctx, res.AuditID)
	if err != nil {
		t.Fatal(err)
	}
	bv := byVantage(ms)
	if len(bv["stockholm"]) != 0 || len(bv["trondheim"]) != 0 || len(bv["bergen"]) != 2 || len(bv["oslo"]) != 2 {
		t.Errorf("measurements by vantage: stockholm %d, trondheim %d, bergen %d, oslo %d", len(bv["stockholm"]), len(bv["trondheim"]),
			len(bv["bergen"]), len(bv["oslo"]))
	}
	if n := e.count(t, `SELECT count(*) FROM agent_tasks WHERE audit_id = $1 AND vantage = 'stockholm' AND state = 'unavailable'`, res.AuditID); n != 1 {
		t.Errorf("stockholm task not closed as unavailable")
	}
	if !res.Chain.OK() {
		t.Errorf("chain: %+v", res.Chain)
	}
}

// cutProxy forwards TCP to a server and can cut every connection and refuse new ones for a while.
type cutProxy struct {
	ln    net.Listener
	to    string
	cut   atomic.Bool
	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t *testing.T, to string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, to: to}
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.cut.Load() {
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) setCut(on bool) {
	p.cut.Store(on)
	if on {
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
		p.mu.Unlock()
	}
}

// Acceptance 2c: an agent cut off from the server mid-audit keeps measuring, spools its result and
// delivers it when the server is back; a resend after that stores nothing twice. The cut lasts
// VARDE_AGENT_CUTOFF (default 5s, the 30s with VARDE_AGENT_CUTOFF=30s): the behaviour is the
// same, the lease (2s here) expires in both.
func TestSpoolAcrossCutoff(t *testing.T) {
	t.Parallel()
	cutoff := 5 * time.Second
	if v := os.Getenv("VARDE_AGENT_CUTOFF"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		cutoff = d
	}
	e := newEnv(t, nil)
	ctx := context.Background()
	addrs := listeners(t, 3)
	proxy := newCutProxy(t, e.ts.Listener.Addr().String())
	cutDone := make(chan struct{})
	var spoolDir string
	a := e.enrol("bergen", func(c *agent.Config) {
		c.Server = "https://" + proxy.ln.Addr().String() + agentwire.Prefix
		spoolDir = filepath.Join(c.Dir, agent.SpoolDir)
		c.Measure = func(ctx context.Context, v string, spec agentwire.Spec) ([]probes.Result, error) {
			// The link goes down mid-measurement and comes back cutoff later; the sweep itself is real.
			proxy.setCut(true)
			go func() {
				time.Sleep(cutoff)
				proxy.setCut(false)
				close(cutDone)
			}()
			return agent.Sweep(ctx, v, spec)
		}
	})
	actx, stop := context.WithCancel(ctx)
	defer stop()
	go a.Run(actx)
	res, err := job.Run(ctx, auditConfig(t, addrs, time.Minute, "bergen"), job.Options{Store: e.store, Now: e.clock.Now, Remote: e.srv})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-cutDone:
	default:
		t.Fatal("the audit finished before the link came back")
	}
	if res.Status != storage.StatusSucceeded {
		t.Fatalf("status %s: %+v", res.Status, res.Steps)
	}
	ms, err := e.store.Measurements(ctx, res.AuditID)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(byVantage(ms)["bergen"]); n != 3 {
		t.Errorf("%d bergen measurements, want 3", n)
	}
	// Resend what was delivered, as an agent that crashed before clearing its spool would.
	if n := e.count(t, `SELECT count(*) FROM agent_results`); n != 1 {
		t.Fatalf("%d results stored", n)
	}
	body, sig := e.storedResult(t)
	if err := os.WriteFile(filepath.Join(spoolDir, "000000000001-000001.result"), append(sig, body...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM agent_results`); n != 1 {
		t.Errorf("%d results after a resend", n)
	}
	if n := e.count(t, `SELECT count(*) FROM measurements WHERE audit_id = $1 AND vantage = 'bergen'`, res.AuditID); n != 3 {
		t.Errorf("%d bergen measurements after a resend", n)
	}
	if left, _ := os.ReadDir(spoolDir); len(left) != 0 {
		t.Errorf("spool not emptied: %v", left)
	}
}
