package main

// Tests of `varde serve` as a real process: built, run against a throwaway database, talked to over
// HTTP with a token from `varde token create`, and killed with SIGKILL mid-audit.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/varde/varde/evidencelog"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp/pgtest"
)

// serveEnv is one database, one signing key directory and one varde binary for a test.
type serveEnv struct {
	t           *testing.T
	bin, dir    string
	urls        pgtest.URLs
	token, base string
	// watch, when set, hears each line the server logs (slog JSON), from the goroutine copying them.
	watch func(line string)
}

func newServeEnv(t *testing.T) *serveEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("serve tests build varde and run it")
	}
	dir, bin := buildVarde(t)
	return newServeEnvOn(t, dir, bin, pgtest.DatabaseRoles(t))
}

// newServeEnvOn migrates the database, makes the signing keys in dir, copies the demo's inventory and
// service config there and creates an admin token.
func newServeEnvOn(t *testing.T, dir, bin string, urls pgtest.URLs) *serveEnv {
	t.Helper()
	se := &serveEnv{t: t, bin: bin, dir: dir, urls: urls}
	se.run(se.urls.Owner, "db", "migrate")
	se.run("", "keys", "init", filepath.Join(dir, "keys"))
	for _, f := range []string{"stores.yaml", "serve-audit.yaml"} {
		b, err := os.ReadFile(filepath.Join("../../demo", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	se.token = strings.TrimSpace(se.run(se.urls.Writer, "token", "create", "--name", "e2e admin",
		"--scopes", "audits:read,audits:run,schedules:write,reports:read,evidence:read,tokens:admin"))
	return se
}

// run runs varde to completion and returns its stdout.
func (se *serveEnv) run(url string, args ...string) string {
	se.t.Helper()
	if url != "" {
		args = append([]string{"--database-url", url}, args...)
	}
	cmd := exec.Command(se.bin, args...)
	cmd.Dir = se.dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		se.t.Fatalf("varde %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// serveProc is a running varde serve. Its process is waited for once, by start; wait waits for that.
type serveProc struct {
	*os.Process
	exited chan struct{}
	err    error
}

// wait returns once the process has exited, with cmd.Wait's error.
func (p *serveProc) wait() error {
	<-p.exited
	return p.err
}

// start runs varde serve on a free loopback port and waits for its "listening" line.
func (se *serveEnv) start(extra ...string) *serveProc {
	se.t.Helper()
	args := append([]string{"--database-url", se.urls.Writer, "serve", "--listen", "127.0.0.1:0",
		"--keys", "keys", "--out", "out", "--config-dir", ".", "--poll-interval", "200ms"}, extra...)
	cmd := exec.Command(se.bin, args...)
	cmd.Dir = se.dir
	cmd.Env = append(os.Environ(), "VARDE_LAB=/nonexistent") // lab targets over loopback TCP: no root needed
	logf, err := os.Create(filepath.Join(se.dir, fmt.Sprintf("serve-%d.log", time.Now().UnixNano())))
	if err != nil {
		se.t.Fatal(err)
	}
	cmd.Stderr = &lineWriter{w: logf, line: se.watch}
	first := make(chan string, 1)
	cmd.Stdout = &lineWriter{w: io.Discard, line: func(l string) {
		select {
		case first <- l:
		default:
		}
	}}
	if err := cmd.Start(); err != nil {
		se.t.Fatal(err)
	}
	p := &serveProc{Process: cmd.Process, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	se.t.Cleanup(func() {
		p.Kill()
		p.wait()
		logf.Close()
		if se.t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			se.t.Logf("serve log:\n%s", b)
		}
	})
	var line string
	select {
	case line = <-first:
	case <-p.exited:
		se.t.Fatalf("varde serve did not start: %v", p.err)
	case <-time.After(2 * time.Minute):
		se.t.Fatal("varde serve did not start within 2 minutes")
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "varde serve: listening on ")
	if !ok {
		se.t.Fatalf("varde serve said %q", line)
	}
	se.base = addr
	return p
}

func (se *serveEnv) call(method, path, contentType string, body []byte, out any) (int, []byte) {
	se.t.Helper()
	code, b, err := se.try(method, path, contentType, body, out)
	if err != nil {
		se.t.Fatal(err)
	}
	return code, b
}

// try is call for a server that may be gone: a failed request is an error, not the test's end.
func (se *serveEnv) try(method, path, contentType string, body []byte, out any) (int, []byte, error) {
	req, err := http.NewRequest(method, se.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+se.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return 0, nil, fmt.Errorf("%s %s: %w in %s", method, path, err, b)
		}
	}
	return resp.StatusCode, b, nil
}

// lineWriter passes what it is given on to w and, when line is set, each complete line to line.
type lineWriter struct {
	w    io.Writer
	line func(string)
	buf  []byte
}

func (lw *lineWriter) Write(p []byte) (int, error) {
	if lw.line != nil {
		lw.buf = append(lw.buf, p...)
		for {
			i := bytes.IndexByte(lw.buf, '\n')
			if i < 0 {
				break
			}
			lw.line(string(lw.buf[:i]))
			lw.buf = lw.buf[i+1:]
		}
	}
	return lw.w.Write(p)
}

func (se *serveEnv) must(status int, method, path, contentType string, body []byte, out any) []byte {
	se.t.Helper()
	got, b := se.call(method, path, contentType, body, out)
	if got != status {
		se.t.Fatalf("%s %s: %d, want %d: %s", method, path, got, status, b)
	}
	return b
}

// waitRun polls a run until cond holds.
func (se *serveEnv) waitRun(id int64, within time.Duration, cond func(storage.AuditRun) bool) storage.AuditRun {
	se.t.Helper()
	deadline := time.Now().Add(within)
	var r storage.AuditRun
	for time.Now().Before(deadline) {
		se.must(200, "GET", fmt.Sprintf("/v1/runs/%d", id), "", nil, &r)
		if cond(r) {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
	se.t.Fatalf("run %d: still %+v after %s", id, r, within)
	return r
}

// Acceptance 1: token, demo config, schedule, a run started now and polled to its end, both PDFs
// downloaded and verified (by the API and by varde report verify), the evidence verified, metrics.
func TestServeEndToEnd(t *testing.T) {
	se := newServeEnv(t)
	proc := se.start()
	cfg, err := os.ReadFile(filepath.Join(se.dir, "serve-audit.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var conf storage.AuditConfig
	se.must(201, "PUT", "/v1/configs/demo", "application/yaml", cfg, &conf)
	if conf.Version != 1 {
		t.Fatalf("config %+v", conf)
	}
	var sc storage.Schedule
	se.must(201, "POST", "/v1/schedules", "application/json",
		[]byte(`{"config_name":"demo","spec":"CRON_TZ=Europe/Oslo 0 6 1 1,4,7,10 *"}`), &sc)
	if sc.TimeZone != "Europe/Oslo" || !sc.Enabled || sc.NextRunAt.IsZero() {
		t.Fatalf("schedule %+v", sc)
	}
	var run storage.AuditRun
	se.must(202, "POST", "/v1/audits", "application/json", []byte(`{"config_name":"demo"}`), &run)
	run = se.waitRun(run.ID, 3*time.Minute, func(r storage.AuditRun) bool { return r.Status.Final() })
	if run.AuditID == nil || (run.Status != storage.RunSucceeded && run.Status != storage.RunPartial) {
		t.Fatalf("run ended %+v", run)
	}
	id := *run.AuditID
	var a storage.Audit
	se.must(200, "GET", fmt.Sprintf("/v1/audits/%d", id), "", nil, &a)
	if !a.Status.Complete() {
		t.Fatalf("audit %d is %s", id, a.Status)
	}
	var list struct{ Items []storage.Audit }
	se.must(200, "GET", "/v1/audits?status="+string(a.Status)+"&limit=5", "", nil, &list)
	if len(list.Items) != 1 || list.Items[0].ID != id {
		t.Fatalf("list: %+v", list)
	}
	var ms []storage.Measurement
	se.must(200, "GET", fmt.Sprintf("/v1/audits/%d/measurements", id), "", nil, &ms)
	var fs []storage.Finding
	se.must(200, "GET", fmt.Sprintf("/v1/audits/%d/findings", id), "", nil, &fs)
	var steps []storage.Step
	se.must(200, "GET", fmt.Sprintf("/v1/audits/%d/steps", id), "", nil, &steps)
	if len(ms) == 0 || len(ms[0].Samples) == 0 || len(fs) == 0 || len(steps) == 0 {
		t.Fatalf("audit %d: %d measurements, %d findings, %d steps", id, len(ms), len(fs), len(steps))
	}
	var checks, obs []json.RawMessage
	se.must(200, "GET", fmt.Sprintf("/v1/audits/%d/check-results", id), "", nil, &checks)
	se.must(200, "GET", fmt.Sprintf("/v1/audits/%d/observations", id), "", nil, &obs)

	var reps []storage.Report
	se.must(200, "GET", fmt.Sprintf("/v1/audits/%d/reports", id), "", nil, &reps)
	kinds := map[string]bool{}
	for _, r := range reps {
		kinds[r.Kind] = true
		pdf := se.must(200, "GET", fmt.Sprintf("/v1/reports/%d/pdf", r.ID), "", nil, nil)
		p := filepath.Join(se.dir, fmt.Sprintf("downloaded-%d.pdf", r.ID))
		if err := os.WriteFile(p, pdf, 0o644); err != nil {
			t.Fatal(err)
		}
		se.run("", "report", "verify", p, "--ca", filepath.Join(se.dir, "keys", "ca.pem"))
		var v struct {
			Valid         bool `json:"valid"`
			SHA256Matches bool `json:"sha256_matches"`
		}
		se.must(200, "POST", fmt.Sprintf("/v1/reports/%d/verify", r.ID), "", nil, &v)
		if !v.Valid || !v.SHA256Matches {
			t.Fatalf("report %d: the API says not valid", r.ID)
		}
	}
	if !kinds["compliance"] || !kinds["sales"] {
		t.Fatalf("reports %+v: want a compliance and a sales report", reps)
	}
	// A report file changed on the server after it was recorded is refused, and verify says why.
	f, err := os.OpenFile(reps[0].Path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("%% appended\n")
	f.Close()
	se.must(409, "GET", fmt.Sprintf("/v1/reports/%d/pdf", reps[0].ID), "", nil, nil)
	var tampered struct {
		Valid         bool `json:"valid"`
		SHA256Matches bool `json:"sha256_matches"`
	}
	se.must(200, "POST", fmt.Sprintf("/v1/reports/%d/verify", reps[0].ID), "", nil, &tampered)
	if tampered.Valid || tampered.SHA256Matches {
		t.Fatalf("a changed report file verifies: %+v", tampered)
	}
	var ev struct {
		Holds bool  `json:"holds"`
		Rows  int64 `json:"rows"`
	}
	se.must(200, "POST", fmt.Sprintf("/v1/audits/%d/evidence/verify", id), "", nil, &ev)
	if !ev.Holds || ev.Rows == 0 {
		t.Fatalf("evidence: %+v", ev)
	}
	// The bundle, checked without varde by the independent verifier, with the log key the auditor holds.
	bundle := se.must(200, "GET", fmt.Sprintf("/v1/audits/%d/evidence/export", id), "", nil, nil)
	bundlePath := filepath.Join(se.dir, "bundle.json")
	if err := os.WriteFile(bundlePath, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(se.dir, "keys", evidencelog.PubKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("python3"); err == nil {
		if out, err := exec.Command("python3", "../../docs/verify-bundle.py", bundlePath, "--log-key", strings.TrimSpace(string(pub))).CombinedOutput(); err != nil {
			t.Fatalf("verify-bundle.py on the exported bundle: %v\n%s", err, out)
		}
	} else if os.Getenv("CI") == "true" {
		t.Fatal("python3 is missing in CI")
	}
	se.run(se.urls.Writer, "verify", "--audit", fmt.Sprint(id))

	resp, err := http.Get(se.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`varde_audits_total{result="` + string(a.Status) + `"} 1`,
		`varde_http_request_duration_seconds_count{code="200",method="GET",route="GET /v1/runs/{id}"}`,
		`varde_findings_total{`, `varde_probe_rtt_seconds_bucket{probe="tcp"`, `varde_audit_step_duration_seconds_count{status="succeeded",step="probes"}`,
		`varde_database_scrape_ok 1`,
	} {
		if !strings.Contains(string(mb), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", mb)
	}
	// River's UI, for admins only: Basic authentication with the token as password, as a browser sends it.
	if r, err := http.Get(se.base + "/riverui/"); err != nil || r.StatusCode != 401 {
		t.Fatalf("/riverui/ without a token: %v %v", r, err)
	}
	// River marks the job completed a moment after the run's own record says so: poll.
	var jobs []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		req, _ := http.NewRequest("GET", se.base+"/riverui/api/jobs?state=completed&limit=5", nil)
		req.SetBasicAuth("admin", se.token)
		r, err := http.DefaultClient.Do(req)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("/riverui/api/jobs as admin: %v %v", r, err)
		}
		jobs, _ = io.ReadAll(r.Body)
		r.Body.Close()
		if strings.Contains(string(jobs), "varde_audit") {
			break
		}
	}
	if !strings.Contains(string(jobs), "varde_audit") {
		t.Fatalf("River's UI lists no completed audit job: %s", jobs)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if r, err := http.Get(se.base + p); err != nil || r.StatusCode != 200 {
			t.Fatalf("%s: %v %v", p, r, err)
		}
	}
	// SIGTERM drains (nothing is running now) and exits 0.
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- proc.wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("varde serve after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("varde serve still running 30 s after SIGTERM")
	}
}

// Acceptance 4: SIGKILL the server while an audit runs; after a restart the audit is final (resumed
// to its end, or recorded as interrupted) and its evidence chain holds.
func TestServeSIGKILLDuringAudit(t *testing.T) {
	se := newServeEnv(t)
	proc := se.start()
	// A slow audit: 400 handshakes 20 ms apart to a loopback port nobody listens on.
	cfg := `organisation: Kill Test AS
period: 2026-Q3
vantages: [{name: oslo-nix-1, city: Oslo, latitude: 59.91, longitude: 10.75}]
probes: {icmp: false, tcp_count: 400, interval: 20ms, timeout: 200ms}
targets: [{name: local, host: 127.0.0.1, port: 9}]
inventory: stores.yaml
`
	se.must(201, "PUT", "/v1/configs/slow", "application/yaml", []byte(cfg), nil)
	var run storage.AuditRun
	se.must(202, "POST", "/v1/audits", "application/json", []byte(`{"config_name":"slow"}`), &run)
	run = se.waitRun(run.ID, time.Minute, func(r storage.AuditRun) bool { return r.AuditID != nil })
	id := *run.AuditID
	time.Sleep(time.Second) // into the probes
	if err := proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	proc.wait()

	se.start()
	deadline := time.Now().Add(2 * time.Minute)
	var a storage.Audit
	for {
		se.must(200, "GET", fmt.Sprintf("/v1/audits/%d", id), "", nil, &a)
		if a.Status.Final() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit %d still %s after the restart", id, a.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("after SIGKILL and restart, audit %d is %s", id, a.Status)
	out := se.run(se.urls.Writer, "verify", "--audit", fmt.Sprint(id))
	if !strings.Contains(out, "holds") {
		t.Fatalf("verify: %s", out)
	}
	// No second audit was made for the run.
	var list struct{ Items []storage.Audit }
	se.must(200, "GET", "/v1/audits?organisation=Kill%20Test%20AS", "", nil, &list)
	if len(list.Items) != 1 {
		t.Fatalf("%d audits for one run: %+v", len(list.Items), list.Items)
	}
}
