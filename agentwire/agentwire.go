// Package agentwire is the protocol between `varde agent` and `varde serve`: the messages, the request
// signature that authenticates an agent on every call, and the result signature that is kept as
// evidence. Both sides import it; it has no I/O of its own.
//
// Authentication: an agent is its Ed25519 key. Every request carries the agent's ID, a time-stamp and a
// signature over method, path, time-stamp and the body's sha256, so a request cannot be replayed later
// than the allowed skew nor moved to another path, and a TLS-terminating proxy in front of several
// stateless `varde serve` replicas does not break it (see docs/agents.md for why not mutual TLS).
//
// A result carries a second, durable signature over the body alone ("varde-agent-result-v1"), which
// the server stores with the body so anyone holding the agent's public key can check it later.
package agentwire

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Paths under the prefix `varde serve` mounts the agent protocol at.
const (
	PathEnrol     = "/enrol"
	PathLease     = "/lease"
	PathHeartbeat = "/heartbeat"
	PathResult    = "/result"
	// Prefix is where `varde serve` mounts the protocol.
	Prefix = "/v1/agent"
)

// Request headers.
const (
	HeaderAgent           = "Varde-Agent"
	HeaderTimestamp       = "Varde-Timestamp"
	HeaderSignature       = "Varde-Signature"
	HeaderResultSignature = "Varde-Result-Signature"
)

// EnrolRequest trades a one-time enrolment token for an agent identity bound to the token's vantage.
type EnrolRequest struct {
	Token     string `json:"token"`
	Vantage   string `json:"vantage"` // must be the token's vantage
	Name      string `json:"name"`    // the agent's host name, for people
	PublicKey []byte `json:"public_key"`
	Version   string `json:"version"`
}

// EnrolResponse names the new agent.
type EnrolResponse struct {
	AgentID int64  `json:"agent_id"`
	Vantage string `json:"vantage"`
}

// LeaseRequest asks for the next task of the agent's vantage, waiting up to WaitMS for one.
type LeaseRequest struct {
	WaitMS  int64  `json:"wait_ms"`
	Version string `json:"version"`
}

// Task is a leased piece of work: measure Targets from the agent's vantage as Probe says, and post the
// result for (TaskID, Attempt) before LeaseExpires, heartbeating to keep the lease.
type Task struct {
	TaskID       int64     `json:"task_id"`
	AuditID      int64     `json:"audit_id"`
	Vantage      string    `json:"vantage"`
	Attempt      int       `json:"attempt"`
	Deadline     time.Time `json:"deadline"`
	LeaseExpires time.Time `json:"lease_expires"`
	// LeaseTTLMS is the lease's length: the agent heartbeats by it, not by LeaseExpires, so a clock
	// that is off does not starve the lease.
	LeaseTTLMS int64 `json:"lease_ttl_ms"`
	Spec       Spec  `json:"spec"`
}

// Spec is what to measure.
type Spec struct {
	Targets []Target `json:"targets"`
	ICMP    int      `json:"icmp_count"` // echoes per target, 0 for none
	TCP     int      `json:"tcp_count"`  // handshakes per target, 0 for none
	// IntervalNS and TimeoutNS are per probe.
	IntervalNS int64 `json:"interval_ns"`
	TimeoutNS  int64 `json:"timeout_ns"`
}

// Target is one destination: Name as the audit knows it, Host and Port to measure.
type Target struct {
	Name string `json:"name"`
	Host string `json:"host"`
	Port uint16 `json:"port"`
}

// Heartbeat keeps a lease.
type Heartbeat struct {
	TaskID  int64 `json:"task_id"`
	Attempt int   `json:"attempt"`
}

// HeartbeatResponse gives the lease's new expiry.
type HeartbeatResponse struct {
	LeaseExpires time.Time `json:"lease_expires"`
}

// Result is what an agent measured for one attempt of one task. The body as sent is what the result
// signature covers.
type Result struct {
	TaskID       int64         `json:"task_id"`
	Attempt      int           `json:"attempt"`
	AgentID      int64         `json:"agent_id"`
	Vantage      string        `json:"vantage"`
	AgentVersion string        `json:"agent_version"`
	Clock        Clock         `json:"clock"`
	Measured     time.Time     `json:"measured_at"`
	Measurements []Measurement `json:"measurements"`
}

// Clock is the agent's clock-sync state when it finished measuring (kernel adjtimex, as NTP/chrony
// leave it).
type Clock struct {
	Source     string `json:"source"` // adjtimex, or unavailable
	Synced     bool   `json:"synced"`
	State      int    `json:"state"` // TIME_OK 0 ... TIME_ERROR 5
	Status     int32  `json:"status"`
	MaxErrorUS int64  `json:"maxerror_us"`
	EstErrorUS int64  `json:"esterror_us"`
	Err        string `json:"error,omitempty"`
}

// Measurement is one probe kind to one target, with every sample.
type Measurement struct {
	Target  string    `json:"t"`
	Address string    `json:"a,omitempty"`
	Kind    string    `json:"k"` // icmp or tcp
	Port    uint16    `json:"p,omitempty"`
	Started time.Time `json:"s"`
	Failure string    `json:"f,omitempty"`
	Err     string    `json:"e,omitempty"`
	Samples Samples   `json:"x"`
}

// Sample is one echo or handshake. On the wire a sample is an array, not an object: samples are most of
// a result's bytes, and the server decodes them on every post (see Samples).
type Sample struct {
	Seq       int
	SentAt    int64 // Unix ns
	RTT       int64
	KernelRTT int64
	WallRTT   int64
	Received  bool
	Dups      int
	SYNRetx   bool
	Source    string // which clock gave the RTT; empty for none
	Failure   string
}

// Samples counts the samples of a result.
func (r *Result) Samples() int {
	n := 0
	for _, m := range r.Measurements {
		n += len(m.Samples)
	}
	return n
}

// requestMessage is what a request signature covers.
func requestMessage(method, path, ts string, sum [sha256.Size]byte) []byte {
	return []byte("varde-agent-request-v1\n" + method + "\n" + path + "\n" + ts + "\n" + hex.EncodeToString(sum[:]))
}

// ResultMessage is what a result signature covers: the body's sha256.
func ResultMessage(body []byte) []byte { return resultMessage(sha256.Sum256(body)) }

func resultMessage(sum [sha256.Size]byte) []byte {
	return []byte("varde-agent-result-v1\n" + hex.EncodeToString(sum[:]))
}

// SignResult signs a result body.
func SignResult(key ed25519.PrivateKey, body []byte) []byte {
	return ed25519.Sign(key, ResultMessage(body))
}

// VerifyResult checks a result signature.
func VerifyResult(pub ed25519.PublicKey, body, sig []byte) bool {
	return VerifyResultSum(pub, sha256.Sum256(body), sig)
}

// VerifyResultSum checks a result signature given the body's sha256, for a server that has it at hand
// already (VerifyRequestSum): a result is hundreds of kB, hashed once.
func VerifyResultSum(pub ed25519.PublicKey, bodySHA256 [sha256.Size]byte, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, resultMessage(bodySHA256), sig)
}

// SignRequest sets the authentication headers of req for body. path is the path as the server's mux
// sees it below the prefix, so a proxy may mount the protocol anywhere.
func SignRequest(req *http.Request, agentID int64, key ed25519.PrivateKey, path string, body []byte, now time.Time) {
	ts := now.UTC().Format(time.RFC3339Nano)
	sig := ed25519.Sign(key, requestMessage(req.Method, path, ts, sha256.Sum256(body)))
	req.Header.Set(HeaderAgent, strconv.FormatInt(agentID, 10))
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sig))
}

// Errors of request verification.
var (
	ErrNoAuth   = errors.New("no agent signature")
	ErrBadSig   = errors.New("bad request signature")
	ErrTooOld   = errors.New("request time-stamp outside the allowed skew")
	ErrBadAgent = errors.New("bad agent ID")
)

// RequestAgent reads the agent ID a request claims, before its key is looked up.
func RequestAgent(h http.Header) (int64, error) {
	v := h.Get(HeaderAgent)
	if v == "" {
		return 0, ErrNoAuth
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: %q", ErrBadAgent, v)
	}
	return id, nil
}

// VerifyRequest checks a request's signature with the claimed agent's key and its time-stamp against
// now within skew.
func VerifyRequest(h http.Header, method, path string, body []byte, pub ed25519.PublicKey, now time.Time, skew time.Duration) error {
	return VerifyRequestSum(h, method, path, sha256.Sum256(body), pub, now, skew)
}

// VerifyRequestSum is VerifyRequest given the body's sha256.
func VerifyRequestSum(h http.Header, method, path string, bodySHA256 [sha256.Size]byte, pub ed25519.PublicKey, now time.Time, skew time.Duration) error {
	ts, sig64 := h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if ts == "" || sig64 == "" {
		return ErrNoAuth
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return fmt.Errorf("%w: time-stamp %q", ErrBadSig, ts)
	}
	if d := now.Sub(t); d > skew || d < -skew {
		return fmt.Errorf("%w: %s, server time %s", ErrTooOld, ts, now.UTC().Format(time.RFC3339))
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil || len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, requestMessage(method, path, ts, bodySHA256), sig) {
		return ErrBadSig
	}
	return nil
}
