package agentsrv

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/varde/varde/agentwire"
	"github.com/varde/varde/job"
	"github.com/varde/varde/probes"
	"github.com/varde/varde/storage"
)

// AgentTool is the tool name of measurements taken by an agent.
const AgentTool = "varde-agent"

var _ job.RemoteVantages = (*Server)(nil)

// Probe implements job.RemoteVantages: it makes the vantage's task for the audit (or finds the one made
// before), waits for an agent of that vantage to deliver, checks the result's signature again with the
// agent's key, and appends the measurements to the audit's chain with the agent's provenance. The caller
// holds the audit, so this process is its one writer. With no result by spec.Deadline the task is
// closed and the error wraps job.ErrVantageUnavailable.
func (s *Server) Probe(ctx context.Context, auditID int64, vantage string, spec job.RemoteSpec) ([]probes.Result, error) {
	ws := agentwire.Spec{ICMP: spec.ICMPCount, TCP: spec.TCPCount, IntervalNS: int64(spec.Interval), TimeoutNS: int64(spec.Timeout)}
	for _, t := range spec.Targets {
		ws.Targets = append(ws.Targets, agentwire.Target{Name: t.Raw, Host: t.Host, Port: t.Port})
	}
	b, err := json.Marshal(ws)
	if err != nil {
		return nil, err
	}
	task, err := s.cfg.Store.CreateAgentTask(ctx, storage.AgentTask{AuditID: auditID, Vantage: vantage, Spec: b,
		Deadline: spec.Deadline, CreatedAt: s.cfg.Now()})
	if err != nil {
		return nil, err
	}
	s.log.Info("task created", "task", task.ID, "audit", auditID, "vantage", vantage, "deadline", spec.Deadline)
	for {
		res, err := s.cfg.Store.AgentTaskResult(ctx, task.ID)
		if err != nil {
			return nil, err
		}
		if res != nil {
			return s.appendResult(ctx, task, ws, res)
		}
		if !s.cfg.Now().Before(task.Deadline) {
			closed, err := s.cfg.Store.CloseAgentTaskUnavailable(ctx, task.ID)
			if err != nil {
				return nil, err
			}
			if closed {
				why := s.unavailableReason(ctx, task.ID)
				s.log.Warn("vantage unavailable", "task", task.ID, "audit", auditID, "vantage", vantage, "reason", why)
				return nil, fmt.Errorf("%w: vantage %s: %s by the deadline %s; no other vantage stands in for it",
					job.ErrVantageUnavailable, vantage, why, task.Deadline.UTC().Format(time.RFC3339))
			}
			continue // a result came in first
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(s.cfg.ResultPoll):
		}
	}
}

func (s *Server) unavailableReason(ctx context.Context, taskID int64) string {
	t, err := s.cfg.Store.AgentTask(ctx, taskID)
	if err != nil || t.Attempt == 0 || t.AgentID == nil {
		return "no live agent took the task"
	}
	return fmt.Sprintf("no result: attempt %d was leased by agent %d, whose lease expired at %s and no other agent took it",
		t.Attempt, *t.AgentID, t.LeaseExpires.UTC().Format(time.RFC3339))
}

// provenance is what the chain keeps of an agent's result, in each measurement's stats under "agent".
type provenance struct {
	AgentID      int64           `json:"agent_id"`
	AgentName    string          `json:"agent_name"`
	AgentVersion string          `json:"agent_version"`
	PublicKey    string          `json:"public_key"` // base64 Ed25519
	Task         int64           `json:"task"`
	Attempt      int             `json:"attempt"`
	ResultSHA256 string          `json:"result_sha256"`
	Signature    string          `json:"signature"` // base64, over agentwire.ResultMessage(body)
	Clock        agentwire.Clock `json:"clock"`
	MeasuredAt   string          `json:"measured_at"`
}

// appendResult turns a stored result into measurements and appends them to the audit's chain.
func (s *Server) appendResult(ctx context.Context, task storage.AgentTask, spec agentwire.Spec, res *storage.AgentResult) ([]probes.Result, error) {
	a, err := s.cfg.Store.AgentByID(ctx, res.AgentID)
	if err != nil {
		return nil, err
	}
	// Checked on arrival too; again here because the row could have been written by anyone with INSERT.
	if !agentwire.VerifyResult(ed25519.PublicKey(a.PublicKey), res.Body, res.Signature) {
		return nil, fmt.Errorf("task %d attempt %d: the stored result's signature does not verify with agent %d's key", task.ID, res.Attempt, a.ID)
	}
	// The one-pass reader first; a body it does not take (stored by an older server, which read with
	// encoding/json) is read as that server read it.
	wr, err := agentwire.DecodeResult(res.Body)
	if err != nil {
		if err := json.Unmarshal(res.Body, &wr); err != nil {
			return nil, fmt.Errorf("task %d attempt %d: result: %w", task.ID, res.Attempt, err)
		}
	}
	if wr.TaskID != task.ID || wr.Attempt != res.Attempt || wr.AgentID != a.ID || wr.Vantage != task.Vantage || a.Vantage != task.Vantage {
		return nil, fmt.Errorf("task %d attempt %d: the result names task %d attempt %d, agent %d of vantage %s", task.ID, res.Attempt,
			wr.TaskID, wr.Attempt, wr.AgentID, wr.Vantage)
	}
	rs, err := agentwire.ProbeResults(task.Vantage, spec, wr)
	if err != nil {
		return nil, fmt.Errorf("task %d attempt %d: %w", task.ID, res.Attempt, err)
	}
	ms, err := job.MeasurementRecords(rs, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	pv := provenance{AgentID: a.ID, AgentName: a.Name, AgentVersion: wr.AgentVersion, PublicKey: base64.StdEncoding.EncodeToString(a.PublicKey),
		Task: task.ID, Attempt: res.Attempt, ResultSHA256: hex.EncodeToString(res.BodySHA256),
		Signature: base64.StdEncoding.EncodeToString(res.Signature), Clock: wr.Clock, MeasuredAt: wr.Measured.UTC().Format(time.RFC3339Nano)}
	pvJSON, err := json.Marshal(pv)
	if err != nil {
		return nil, err
	}
	for i := range ms {
		// The stats object gains an "agent" member: spliced in rather than decoded and encoded again
		// for each of possibly thousands of measurements (storage canonicalises the JSON anyway).
		st := bytes.TrimSpace(ms[i].Stats)
		if len(st) < 2 || st[0] != '{' || st[len(st)-1] != '}' {
			return nil, fmt.Errorf("measurement %s: stats are not a JSON object", ms[i].Target)
		}
		sep := ","
		if len(bytes.TrimSpace(st[1:len(st)-1])) == 0 {
			sep = ""
		}
		out := make([]byte, 0, len(st)+len(pvJSON)+12)
		out = append(append(append(append(out, st[:len(st)-1]...), sep+`"agent":`...), pvJSON...), '}')
		ms[i].Stats = out
		ms[i].Tool, ms[i].ToolVersion = AgentTool, wr.AgentVersion
	}
	if err := s.cfg.Store.AppendMeasurements(ctx, task.AuditID, ms); err != nil {
		return nil, fmt.Errorf("audit %d: store vantage %s's measurements: %w", task.AuditID, task.Vantage, err)
	}
	s.log.Info("result appended", "task", task.ID, "audit", task.AuditID, "vantage", task.Vantage, "agent", a.ID,
		"attempt", res.Attempt, "measurements", len(ms))
	return rs, nil
}
