// Package agentsrv is the server side of remote vantage agents: the HTTP handler `varde serve` mounts
// for the agent protocol (enrolment, long-poll leases with heartbeats, signed results), the admin
// operations (enrolment tokens, revocation), and job.RemoteVantages, which turns an audit's probe step
// into one task per vantage and appends what the agents measured to the audit's chain.
//
// State lives in Postgres (migration 9), so any of several `varde serve` replicas can answer any agent.
// The chain is written only by the process that runs the audit (it holds the audit; storage.HoldAudit):
// a replica that takes a result stores the signed body, and the audit's own process appends it.
package agentsrv

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/varde/varde/agentwire"
	"github.com/varde/varde/storage"
)

// Config configures the agent protocol server.
type Config struct {
	// Store holds agents, tasks and results. Required.
	Store *storage.Store
	// Logger gets every refused request with its reason. Default: discard.
	Logger *slog.Logger
	// Now is the clock for leases, time-stamps and token expiry. Default time.Now.
	Now func() time.Time
	// LeaseTTL is how long a lease lasts without a heartbeat. Default 30s.
	LeaseTTL time.Duration
	// MaxWait bounds a lease request's long poll. Default 25s (below common proxy idle timeouts).
	MaxWait time.Duration
	// Poll is how often a waiting lease request looks for a task. Default 200ms.
	Poll time.Duration
	// ResultPoll is how often a job waiting for a vantage's result looks for it. Default 500ms.
	ResultPoll time.Duration
	// MaxBody bounds a request body. Default 64 MiB.
	MaxBody int64
	// Skew is how far a request's time-stamp may be from the server's clock. Default 5m.
	Skew time.Duration
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 30 * time.Second
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 25 * time.Second
	}
	if c.Poll <= 0 {
		c.Poll = 200 * time.Millisecond
	}
	if c.ResultPoll <= 0 {
		c.ResultPoll = 500 * time.Millisecond
	}
	if c.MaxBody <= 0 {
		c.MaxBody = 64 << 20
	}
	if c.Skew <= 0 {
		c.Skew = 5 * time.Minute
	}
}

// Validate checks the config after defaults are filled in.
func (c *Config) Validate() error {
	if c.Store == nil {
		return errors.New("agent server: Store is required")
	}
	return nil
}

// Server serves the agent protocol.
type Server struct {
	cfg Config
	log *slog.Logger
}

// New makes a server.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, log: cfg.Logger}, nil
}

// Handler serves the protocol's paths (agentwire.PathEnrol and so on) at its root; mount it under a
// prefix with http.StripPrefix.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+agentwire.PathEnrol, s.enrol)
	mux.HandleFunc("POST "+agentwire.PathLease, s.authed(s.lease))
	mux.HandleFunc("POST "+agentwire.PathHeartbeat, s.authed(s.heartbeat))
	mux.HandleFunc("POST "+agentwire.PathResult, s.authed(s.result))
	mux.HandleFunc("POST "+agentwire.PathMonitor, s.authed(s.monitor))
	mux.HandleFunc("POST "+agentwire.PathSummary, s.authed(s.summary))
	return mux
}

// TokenPrefix marks enrolment tokens, so secret scanners can find leaked ones.
const TokenPrefix = "vardeagent_"

// CreateEnrolment makes a one-time enrolment token for vantage, valid for ttl. Only its sha256 is
// stored; the token is shown once.
func (s *Server) CreateEnrolment(ctx context.Context, vantage string, ttl time.Duration) (string, error) {
	if strings.TrimSpace(vantage) == "" {
		return "", errors.New("enrolment token: name the vantage")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("enrolment token: ttl %v must be positive", ttl)
	}
	b := make([]byte, 24) // 192 bits
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := TokenPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
	sum := sha256.Sum256([]byte(tok))
	now := s.cfg.Now()
	if _, err := s.cfg.Store.CreateEnrolment(ctx, vantage, sum[:], now, now.Add(ttl)); err != nil {
		return "", err
	}
	return tok, nil
}

// problem writes an RFC 9457 problem document.
func (s *Server) problem(w http.ResponseWriter, r *http.Request, status int, agent int64, err error) {
	lvl := slog.LevelWarn
	if status >= 500 {
		lvl = slog.LevelError
	}
	// Never the token or the signature: the path, who claimed to ask, and why it was refused.
	s.log.Log(r.Context(), lvl, "agent request refused", "path", r.URL.Path, "agent", agent, "status", status, "reason", err.Error(),
		"remote", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": err.Error()})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength <= s.cfg.MaxBody {
		buf.Grow(int(r.ContentLength) + bytes.MinRead) // one allocation for a result's hundreds of kB
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)); err != nil {
		return nil, fmt.Errorf("request body: %w", err)
	}
	return buf.Bytes(), nil
}

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

func (s *Server) enrol(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.problem(w, r, http.StatusRequestEntityTooLarge, 0, err)
		return
	}
	var req agentwire.EnrolRequest
	if err := decodeStrict(body, &req); err != nil {
		s.problem(w, r, http.StatusBadRequest, 0, err)
		return
	}
	if len(req.PublicKey) != ed25519.PublicKeySize {
		s.problem(w, r, http.StatusBadRequest, 0, fmt.Errorf("public_key: want an Ed25519 key of %d bytes, got %d", ed25519.PublicKeySize, len(req.PublicKey)))
		return
	}
	sum := sha256.Sum256([]byte(req.Token))
	a, err := s.cfg.Store.Enrol(r.Context(), sum[:], storage.Agent{Vantage: req.Vantage, Name: req.Name, PublicKey: req.PublicKey, Version: req.Version}, s.cfg.Now())
	if err != nil {
		status := http.StatusInternalServerError
		switch {
		case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrTokenSpent), errors.Is(err, storage.ErrTokenExpired),
			errors.Is(err, storage.ErrWrongVantage):
			status = http.StatusForbidden
		}
		s.problem(w, r, status, 0, fmt.Errorf("enrolment refused: %w", err))
		return
	}
	s.log.Info("agent enrolled", "agent", a.ID, "vantage", a.Vantage, "name", a.Name, "version", a.Version)
	writeJSON(w, agentwire.EnrolResponse{AgentID: a.ID, Vantage: a.Vantage})
}

// authedFunc gets the body's sha256 too: results are large, and are hashed once.
type authedFunc func(w http.ResponseWriter, r *http.Request, a storage.Agent, body []byte, sum [sha256.Size]byte)

// authed checks the request's signature against the claimed agent's key, and that the agent is not
// revoked, before fn sees the request.
func (s *Server) authed(fn authedFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := agentwire.RequestAgent(r.Header)
		if err != nil {
			s.problem(w, r, http.StatusUnauthorized, 0, err)
			return
		}
		body, err := s.readBody(w, r)
		if err != nil {
			s.problem(w, r, http.StatusRequestEntityTooLarge, id, err)
			return
		}
		a, err := s.cfg.Store.AgentByID(r.Context(), id)
		if errors.Is(err, storage.ErrNotFound) {
			s.problem(w, r, http.StatusUnauthorized, id, err)
			return
		}
		if err != nil {
			s.problem(w, r, http.StatusInternalServerError, id, err)
			return
		}
		sum := sha256.Sum256(body)
		if err := agentwire.VerifyRequestSum(r.Header, r.Method, r.URL.Path, sum, a.PublicKey, s.cfg.Now(), s.cfg.Skew); err != nil {
			s.problem(w, r, http.StatusUnauthorized, id, err)
			return
		}
		if a.RevokedAt != nil {
			s.problem(w, r, http.StatusForbidden, id, fmt.Errorf("agent %d of vantage %s: %w at %s", id, a.Vantage,
				storage.ErrAgentRevoked, a.RevokedAt.UTC().Format(time.RFC3339)))
			return
		}
		// An agent that only waits for work is alive too: note it, at most once a minute per agent, so the
		// console can tell an idle agent from a lost one.
		if now := s.cfg.Now(); a.LastSeen == nil || now.Sub(*a.LastSeen) >= time.Minute {
			if err := s.cfg.Store.TouchAgent(r.Context(), a.ID, now); err != nil {
				s.cfg.Logger.Warn("agent last seen not recorded", "agent", a.ID, "err", err)
			}
		}
		fn(w, r, a, body, sum)
	}
}

func (s *Server) lease(w http.ResponseWriter, r *http.Request, a storage.Agent, body []byte, sum [sha256.Size]byte) {
	var req agentwire.LeaseRequest
	if err := decodeStrict(body, &req); err != nil {
		s.problem(w, r, http.StatusBadRequest, a.ID, err)
		return
	}
	wait := min(time.Duration(req.WaitMS)*time.Millisecond, s.cfg.MaxWait)
	// The long poll waits in real time whatever the injected clock says: it is transport, not evidence.
	until := time.Now().Add(wait)
	for {
		t, err := s.cfg.Store.LeaseAgentTask(r.Context(), a.Vantage, a.ID, s.cfg.Now(), s.cfg.LeaseTTL)
		if err != nil {
			s.problem(w, r, http.StatusInternalServerError, a.ID, err)
			return
		}
		if t != nil {
			b, err := taskJSON(agentwire.Task{TaskID: t.ID, AuditID: t.AuditID, Vantage: t.Vantage, Attempt: t.Attempt,
				Deadline: t.Deadline, LeaseExpires: *t.LeaseExpires, LeaseTTLMS: s.cfg.LeaseTTL.Milliseconds()}, t.Spec)
			if err != nil {
				s.problem(w, r, http.StatusInternalServerError, a.ID, fmt.Errorf("task %d: %w", t.ID, err))
				return
			}
			s.log.Info("task leased", "task", t.ID, "audit", t.AuditID, "vantage", t.Vantage, "attempt", t.Attempt, "agent", a.ID)
			w.Header().Set("Content-Type", "application/json")
			w.Write(append(b, '\n'))
			return
		}
		if !time.Now().Before(until) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(min(s.cfg.Poll, time.Until(until))):
		}
	}
}

// taskJSON writes t with spec, an agentwire.Spec as stored, spliced in as it is: every agent of a burst
// leases a thousand targets, and decoding them only to encode them again (or having encoding/json
// re-scan them) was a quarter of the server's CPU. spec comes from a jsonb column, so Postgres has
// checked that it is JSON; that it is an object is checked here.
func taskJSON(t agentwire.Task, spec []byte) ([]byte, error) {
	spec = bytes.TrimSpace(spec)
	if len(spec) == 0 || spec[0] != '{' {
		return nil, errors.New("spec: not a JSON object")
	}
	b, err := json.Marshal(t) // with the zero spec, which is the end of the object
	if err != nil {
		return nil, err
	}
	zero, _ := json.Marshal(agentwire.Spec{})
	tail := append(append([]byte(`"spec":`), zero...), '}')
	if !bytes.HasSuffix(b, tail) {
		return nil, errors.New("agentwire.Task no longer ends with its spec")
	}
	b = append(b[:len(b)-len(zero)-1], spec...)
	return append(b, '}', '\n'), nil
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request, a storage.Agent, body []byte, sum [sha256.Size]byte) {
	var hb agentwire.Heartbeat
	if err := decodeStrict(body, &hb); err != nil {
		s.problem(w, r, http.StatusBadRequest, a.ID, err)
		return
	}
	exp, err := s.cfg.Store.HeartbeatAgentTask(r.Context(), hb.TaskID, hb.Attempt, a.ID, s.cfg.Now(), s.cfg.LeaseTTL)
	if errors.Is(err, storage.ErrLeaseLost) {
		s.problem(w, r, http.StatusConflict, a.ID, err)
		return
	}
	if err != nil {
		s.problem(w, r, http.StatusInternalServerError, a.ID, err)
		return
	}
	writeJSON(w, agentwire.HeartbeatResponse{LeaseExpires: exp})
}

func (s *Server) result(w http.ResponseWriter, r *http.Request, a storage.Agent, body []byte, sum [sha256.Size]byte) {
	sig, err := decodeSig(r.Header.Get(agentwire.HeaderResultSignature))
	if err != nil || !agentwire.VerifyResultSum(a.PublicKey, sum, sig) {
		s.problem(w, r, http.StatusUnauthorized, a.ID, fmt.Errorf("result signature does not verify with agent %d's key", a.ID))
		return
	}
	samples := 0
	res, err := agentwire.ScanResult(body, func(i int, m *agentwire.Measurement) error {
		samples += len(m.Samples)
		return checkShape(i, m)
	})
	if err != nil {
		s.problem(w, r, http.StatusBadRequest, a.ID, fmt.Errorf("request body: %w", err))
		return
	}
	if res.AgentID != a.ID || res.Vantage != a.Vantage {
		s.problem(w, r, http.StatusForbidden, a.ID, fmt.Errorf("result claims agent %d of vantage %s; the request is agent %d's, of vantage %s: %w",
			res.AgentID, res.Vantage, a.ID, a.Vantage, storage.ErrWrongVantage))
		return
	}
	dup, err := s.cfg.Store.PutAgentResult(r.Context(), storage.AgentResult{TaskID: res.TaskID, Attempt: res.Attempt, AgentID: a.ID,
		Body: body, BodySHA256: sum[:], Signature: sig, Samples: samples, ReceivedAt: s.cfg.Now()}, a.Vantage)
	if err != nil {
		status := http.StatusInternalServerError
		switch {
		case errors.Is(err, storage.ErrNotFound):
			status = http.StatusNotFound
		case errors.Is(err, storage.ErrWrongVantage), errors.Is(err, storage.ErrNotYourLease):
			status = http.StatusForbidden
		case errors.Is(err, storage.ErrStaleAttempt), errors.Is(err, storage.ErrTaskClosed), errors.Is(err, storage.ErrResultClashes):
			status = http.StatusConflict
		}
		s.problem(w, r, status, a.ID, err)
		return
	}
	if dup {
		s.log.Info("result already stored", "task", res.TaskID, "attempt", res.Attempt, "agent", a.ID)
	} else {
		s.log.Info("result accepted", "task", res.TaskID, "attempt", res.Attempt, "agent", a.ID, "samples", samples)
	}
	writeJSON(w, map[string]any{"stored": !dup, "duplicate": dup})
}

func decodeSig(v string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) != ed25519.SignatureSize {
		return nil, errors.New("malformed signature")
	}
	return b, nil
}

// checkShape refuses a result that could never be stored, while the agent is still there to hear why.
// Whether its targets are the task's is checked by the job, which has the task's spec at hand.
func checkShape(i int, m *agentwire.Measurement) error {
	if m.Kind != "icmp" && m.Kind != "tcp" {
		return fmt.Errorf("measurement %d (%s): kind %q: want icmp or tcp", i, m.Target, m.Kind)
	}
	for _, x := range m.Samples {
		if x.RTT < 0 || x.KernelRTT < 0 || x.WallRTT < 0 {
			return fmt.Errorf("measurement %d (%s) sample %d: negative RTT", i, m.Target, x.Seq)
		}
	}
	return nil
}
