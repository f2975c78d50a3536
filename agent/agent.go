// Package agent is `varde agent`: it runs at a vantage, connects out to `varde serve` over HTTPS, takes
// its vantage's probe tasks (long-poll leases, heartbeats), measures, and posts each result signed with
// its Ed25519 key. It holds no database credentials. A result is written to a bounded on-disk spool
// before it is sent and removed only once the server has answered for it, so an agent that loses the
// server keeps measuring and delivers later; the server's (task, attempt) key stores nothing twice.
package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/varde/varde"
	"github.com/varde/varde/agentwire"
	"github.com/varde/varde/probes"
)

// Files in the agent's directory.
const (
	KeyFile      = "agent.key"  // PKCS #8 PEM, mode 0600
	IdentityFile = "agent.json" // agent ID, vantage, server
	SpoolDir     = "spool"
)

// Config configures an agent.
type Config struct {
	// Server is the agent protocol's base URL, e.g. https://varde.example:8443/v1/agent. Required.
	Server string
	// CAFile, when set, is the only CA trusted for the server's certificate.
	CAFile string
	// Dir holds the key, the identity and the spool. Required.
	Dir string
	// Logger. Default: discard.
	Logger *slog.Logger
	// Now stamps requests and results. Default time.Now.
	Now func() time.Time
	// Version is reported to the server and stored with every result. Default varde.Version.
	Version string
	// HTTPClient overrides the client made from CAFile (tests).
	HTTPClient *http.Client
	// LeaseWait is how long one lease request waits for a task. Default 20s.
	LeaseWait time.Duration
	// Retry is the pause after the server could not be reached. Default 2s.
	Retry time.Duration
	// SpoolMaxBytes and SpoolMaxFiles bound the spool; a result that does not fit is refused (and
	// logged) rather than pushing older evidence out. Defaults 256 MiB, 10,000.
	SpoolMaxBytes int64
	SpoolMaxFiles int
	// Measure runs a task's probes. Default: probes.Sweep, ICMP then TCP.
	Measure func(ctx context.Context, vantage string, spec agentwire.Spec) ([]probes.Result, error)
	// Clock reports the clock-sync state. Default: the kernel's adjtimex.
	Clock func() agentwire.Clock
	// MonitorPoll is how often an agent whose vantage has no monitoring asks again. Default 1m.
	MonitorPoll time.Duration
	// Observe, when set, hears every request's path, status (0 when there was no answer) and duration
	// (bench/agents).
	Observe func(path string, status int, took time.Duration)
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Version == "" {
		c.Version = varde.Version
	}
	if c.LeaseWait <= 0 {
		c.LeaseWait = 20 * time.Second
	}
	if c.Retry <= 0 {
		c.Retry = 2 * time.Second
	}
	if c.MonitorPoll <= 0 {
		c.MonitorPoll = time.Minute
	}
	if c.SpoolMaxBytes <= 0 {
		c.SpoolMaxBytes = 256 << 20
	}
	if c.SpoolMaxFiles <= 0 {
		c.SpoolMaxFiles = 10000
	}
	if c.Measure == nil {
		c.Measure = Sweep
	}
	if c.Clock == nil {
		c.Clock = KernelClock
	}
}

// Validate checks the config after defaults.
func (c *Config) Validate() error {
	if !strings.HasPrefix(c.Server, "https://") {
		return fmt.Errorf("agent: server %q: want an https:// URL", c.Server)
	}
	if c.Dir == "" {
		return errors.New("agent: a state directory is required")
	}
	return nil
}

func (c *Config) client() (*http.Client, error) {
	if c.HTTPClient != nil {
		return c.HTTPClient, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		b, err := varde.ReadFile(c.CAFile, varde.Limit{What: "a CA certificate", Bytes: 1 << 20})
		if err != nil {
			return nil, fmt.Errorf("agent: server CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("agent: server CA %s: no PEM certificate in it", c.CAFile)
		}
		tc.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr}, nil
}

// Identity is what enrolment gave the agent.
type Identity struct {
	AgentID int64  `json:"agent_id"`
	Vantage string `json:"vantage"`
	Server  string `json:"server"`
}

// Enrol makes the agent's key, trades the one-time token for an identity bound to vantage, and writes
// both to cfg.Dir. An agent that is already enrolled there is not enrolled again.
func Enrol(ctx context.Context, cfg Config, token, vantage, name string) (Identity, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return Identity{}, err
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, IdentityFile)); err == nil {
		return Identity{}, fmt.Errorf("agent: %s is already enrolled (%s); use a fresh directory", cfg.Dir, IdentityFile)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return Identity{}, fmt.Errorf("agent: %w", err)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Identity{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Identity{}, err
	}
	if err := writeFileAtomic(filepath.Join(cfg.Dir, KeyFile), 0o600, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return Identity{}, err
	}
	hc, err := cfg.client()
	if err != nil {
		return Identity{}, err
	}
	body, _ := json.Marshal(agentwire.EnrolRequest{Token: token, Vantage: vantage, Name: name, PublicKey: pub, Version: cfg.Version})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(cfg.Server, "/")+agentwire.PathEnrol, bytes.NewReader(body))
	if err != nil {
		return Identity{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return Identity{}, fmt.Errorf("agent: enrol: %w", err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return Identity{}, fmt.Errorf("agent: enrol refused: %s: %s", resp.Status, problemDetail(rb))
	}
	var er agentwire.EnrolResponse
	if err := json.Unmarshal(rb, &er); err != nil {
		return Identity{}, fmt.Errorf("agent: enrol: %w", err)
	}
	id := Identity{AgentID: er.AgentID, Vantage: er.Vantage, Server: cfg.Server}
	ib, _ := json.MarshalIndent(id, "", "  ")
	if err := writeFileAtomic(filepath.Join(cfg.Dir, IdentityFile), 0o600, append(ib, '\n')); err != nil {
		return Identity{}, err
	}
	return id, nil
}

func problemDetail(b []byte) string {
	var p struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(b, &p) == nil && p.Detail != "" {
		return p.Detail
	}
	return strings.TrimSpace(string(b))
}

// writeFileAtomic writes the parts one after another, syncs and renames, so a crash leaves the old
// file or the new one.
func writeFileAtomic(path string, mode os.FileMode, parts ...[]byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	for _, b := range parts {
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Agent is an enrolled agent.
type Agent struct {
	cfg   Config
	id    Identity
	key   ed25519.PrivateKey
	hc    *http.Client
	log   *slog.Logger
	spool *spool
	// measuring is held while probes run: a task and a monitoring interval never measure at once.
	measuring sync.Mutex
	flushing  sync.Mutex
}

// Open loads an enrolled agent from cfg.Dir.
func Open(cfg Config) (*Agent, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ib, err := varde.ReadFile(filepath.Join(cfg.Dir, IdentityFile), varde.Limit{What: "an agent identity", Bytes: 1 << 16})
	if err != nil {
		return nil, fmt.Errorf("agent: not enrolled: %w", err)
	}
	var id Identity
	if err := json.Unmarshal(ib, &id); err != nil || id.AgentID <= 0 || id.Vantage == "" {
		return nil, fmt.Errorf("agent: %s: not an identity file", filepath.Join(cfg.Dir, IdentityFile))
	}
	kb, err := varde.ReadFile(filepath.Join(cfg.Dir, KeyFile), varde.Limit{What: "an agent key", Bytes: 1 << 16})
	if err != nil {
		return nil, fmt.Errorf("agent: key: %w", err)
	}
	blk, _ := pem.Decode(kb)
	if blk == nil {
		return nil, fmt.Errorf("agent: %s: no PEM block", KeyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("agent: %s: %w", KeyFile, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("agent: %s: not an Ed25519 key", KeyFile)
	}
	hc, err := cfg.client()
	if err != nil {
		return nil, err
	}
	sp, err := openSpool(filepath.Join(cfg.Dir, SpoolDir), cfg.SpoolMaxBytes, cfg.SpoolMaxFiles)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With("agent", id.AgentID, "vantage", id.Vantage)
	return &Agent{cfg: cfg, id: id, key: key, hc: hc, log: log, spool: sp}, nil
}

// Identity returns who the agent is.
func (a *Agent) Identity() Identity { return a.id }

// errUnreachable: the server could not be reached or answered 5xx; try again later.
var errUnreachable = errors.New("server unreachable")

// call sends a signed request and returns the status and body. Transport errors and 5xx wrap
// errUnreachable.
func (a *Agent) call(ctx context.Context, path string, body []byte, hdr http.Header) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(a.cfg.Server, "/")+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	agentwire.SignRequest(req, a.id.AgentID, a.key, path, body, a.cfg.Now())
	start := time.Now()
	resp, err := a.hc.Do(req)
	if a.cfg.Observe != nil {
		defer func() {
			st := 0
			if resp != nil {
				st = resp.StatusCode
			}
			a.cfg.Observe(path, st, time.Since(start))
		}()
	}
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", errUnreachable, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", errUnreachable, err)
	}
	if resp.StatusCode >= 500 {
		return resp.StatusCode, rb, fmt.Errorf("%w: %s: %s", errUnreachable, resp.Status, problemDetail(rb))
	}
	return resp.StatusCode, rb, nil
}

// Run takes and measures tasks until ctx ends: deliver the spool, lease, measure with heartbeats,
// spool the signed result, deliver. It returns when ctx ends, or when the server refuses the agent
// itself (revoked, unknown).
func (a *Agent) Run(ctx context.Context) error {
	a.log.Info("agent running", "server", a.cfg.Server, "version", a.cfg.Version)
	ctx, stop := context.WithCancel(ctx)
	defer stop() // monitoring ends with the agent, whatever ends it
	go a.monitorLoop(ctx)
	for ctx.Err() == nil {
		if err := a.Flush(ctx); err != nil {
			if errors.Is(err, errRefusedAgent) {
				return err
			}
			a.log.Warn("spool not delivered yet", "err", err)
			sleep(ctx, a.cfg.Retry)
			continue
		}
		task, err := a.lease(ctx)
		switch {
		case errors.Is(err, errRefusedAgent):
			return err
		case err != nil:
			if ctx.Err() == nil {
				a.log.Warn("lease", "err", err)
				sleep(ctx, a.cfg.Retry)
			}
			continue
		case task == nil:
			continue
		}
		if err := a.work(ctx, task); err != nil && ctx.Err() == nil {
			a.log.Warn("task", "task", task.TaskID, "attempt", task.Attempt, "err", err)
		}
	}
	return ctx.Err()
}

// errRefusedAgent: the server refuses this agent (revoked or unknown): running on is pointless.
var errRefusedAgent = errors.New("the server refuses this agent")

func (a *Agent) lease(ctx context.Context) (*agentwire.Task, error) {
	body, _ := json.Marshal(agentwire.LeaseRequest{WaitMS: a.cfg.LeaseWait.Milliseconds(), Version: a.cfg.Version})
	return ask[agentwire.Task](ctx, a, agentwire.PathLease, body, a.cfg.LeaseWait+30*time.Second)
}

// ask posts body to path and decodes a 200 answer; 204 is nil, nil. A server that refuses the agent
// itself is errRefusedAgent.
func ask[T any](ctx context.Context, a *Agent, path string, body []byte, timeout time.Duration) (*T, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, rb, err := a.call(cctx, path, body, nil)
	if err != nil {
		return nil, err
	}
	switch st {
	case http.StatusNoContent:
		return nil, nil
	case http.StatusOK:
		var v T
		if err := json.Unmarshal(rb, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &v, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, fmt.Errorf("%w: %d: %s", errRefusedAgent, st, problemDetail(rb))
	}
	return nil, fmt.Errorf("%s: status %d: %s", path, st, problemDetail(rb))
}

// work measures one task while heartbeating its lease; a lost lease stops the measuring (another
// agent has the task now). The result is spooled, then delivered.
func (a *Agent) work(ctx context.Context, t *agentwire.Task) error {
	a.log.Info("task leased", "task", t.TaskID, "audit", t.AuditID, "attempt", t.Attempt, "targets", len(t.Spec.Targets))
	mctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.heartbeat(mctx, t, cancel)
	}()
	a.measuring.Lock()
	rs, err := a.cfg.Measure(mctx, t.Vantage, t.Spec)
	a.measuring.Unlock()
	cancel(nil)
	<-done
	if cause := context.Cause(mctx); errors.Is(cause, storageLeaseLost) {
		return cause
	}
	if err != nil {
		return fmt.Errorf("measure: %w", err)
	}
	res := agentwire.Result{TaskID: t.TaskID, Attempt: t.Attempt, AgentID: a.id.AgentID, Vantage: a.id.Vantage,
		AgentVersion: a.cfg.Version, Clock: a.cfg.Clock(), Measured: a.cfg.Now().UTC(), Measurements: agentwire.WireMeasurements(rs)}
	body, err := agentwire.EncodeResult(&res)
	if err != nil {
		return err
	}
	if err := a.spool.put(t.TaskID, t.Attempt, body, agentwire.SignResult(a.key, body)); err != nil {
		a.log.Error("result not spooled: the spool is full or unwritable", "task", t.TaskID, "attempt", t.Attempt, "err", err)
		return err
	}
	return a.Flush(ctx)
}

// storageLeaseLost is the cause of a measurement stopped because the server gave the lease away.
var storageLeaseLost = errors.New("lease lost: another agent has the task")

func (a *Agent) heartbeat(ctx context.Context, t *agentwire.Task, cancel context.CancelCauseFunc) {
	every := max(time.Duration(t.LeaseTTLMS)*time.Millisecond/3, 200*time.Millisecond)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		body, _ := json.Marshal(agentwire.Heartbeat{TaskID: t.TaskID, Attempt: t.Attempt})
		st, rb, err := a.call(ctx, agentwire.PathHeartbeat, body, nil)
		switch {
		case err != nil:
			// Keep measuring: the result is spooled and may still be taken if nobody else leased the task.
			a.log.Warn("heartbeat not delivered", "task", t.TaskID, "err", err)
		case st == http.StatusOK:
		case st == http.StatusConflict:
			a.log.Warn("lease lost", "task", t.TaskID, "attempt", t.Attempt, "detail", problemDetail(rb))
			cancel(storageLeaseLost)
			return
		default:
			a.log.Warn("heartbeat refused", "task", t.TaskID, "status", st, "detail", problemDetail(rb))
		}
	}
}

// Flush delivers every spooled result, oldest first. A result the server took, or already had, leaves
// the spool; so does one it refuses for good (an attempt that was given to another agent), with a log
// line. It stops at the first that cannot be delivered now.
func (a *Agent) Flush(ctx context.Context) error {
	a.flushing.Lock()
	defer a.flushing.Unlock()
	items, err := a.spool.list()
	if err != nil {
		return err
	}
	for _, it := range items {
		body, sig, err := a.spool.read(it)
		if err != nil {
			a.log.Error("unreadable spool file removed", "file", it, "err", err)
			a.spool.remove(it)
			continue
		}
		hdr := http.Header{}
		hdr.Set(agentwire.HeaderResultSignature, encodeSig(sig))
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		path := agentwire.PathResult
		if strings.HasSuffix(it, suffixSummary) {
			path = agentwire.PathSummary
		}
		st, rb, err := a.call(cctx, path, body, hdr)
		cancel()
		if err != nil {
			return err
		}
		switch st {
		case http.StatusOK:
			a.log.Info("result delivered", "file", it)
			a.spool.remove(it)
		case http.StatusConflict, http.StatusNotFound, http.StatusForbidden, http.StatusBadRequest:
			a.log.Warn("result refused for good; removed from the spool", "file", it, "status", st, "detail", problemDetail(rb))
			a.spool.remove(it)
		case http.StatusUnauthorized:
			return fmt.Errorf("%w: result %s: %d: %s", errRefusedAgent, it, st, problemDetail(rb))
		default:
			return fmt.Errorf("result %s: status %d: %s", it, st, problemDetail(rb))
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
