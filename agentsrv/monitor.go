package agentsrv

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/varde/varde/agentwire"
	"github.com/varde/varde/storage"
)

// SetMonitor sets what the agents of vantage measure between audits, every interval.
func (s *Server) SetMonitor(ctx context.Context, vantage string, spec agentwire.Spec, interval time.Duration) error {
	if len(spec.Targets) == 0 || spec.ICMP+spec.TCP == 0 {
		return fmt.Errorf("monitor for vantage %s: give targets and a probe count", vantage)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	return s.cfg.Store.SetMonitor(ctx, storage.Monitor{Vantage: vantage, Spec: b, Interval: interval, UpdatedAt: s.cfg.Now()})
}

func (s *Server) monitor(w http.ResponseWriter, r *http.Request, a storage.Agent, _ []byte, _ [sha256.Size]byte) {
	m, err := s.cfg.Store.MonitorOf(r.Context(), a.Vantage)
	if errors.Is(err, storage.ErrNotFound) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err != nil {
		s.problem(w, r, http.StatusInternalServerError, a.ID, err)
		return
	}
	var spec agentwire.Spec
	if err := json.Unmarshal(m.Spec, &spec); err != nil {
		s.problem(w, r, http.StatusInternalServerError, a.ID, fmt.Errorf("monitor of vantage %s: %w", a.Vantage, err))
		return
	}
	writeJSON(w, agentwire.Monitor{Spec: spec, IntervalNS: int64(m.Interval)})
}

func (s *Server) summary(w http.ResponseWriter, r *http.Request, a storage.Agent, body []byte, sum [sha256.Size]byte) {
	sig, err := decodeSig(r.Header.Get(agentwire.HeaderResultSignature))
	if err != nil || !agentwire.VerifyResultSum(a.PublicKey, sum, sig) {
		s.problem(w, r, http.StatusUnauthorized, a.ID, fmt.Errorf("summary signature does not verify with agent %d's key", a.ID))
		return
	}
	var sm agentwire.Summary
	if err := decodeStrict(body, &sm); err != nil {
		s.problem(w, r, http.StatusBadRequest, a.ID, err)
		return
	}
	if sm.AgentID != a.ID || sm.Vantage != a.Vantage {
		s.problem(w, r, http.StatusForbidden, a.ID, fmt.Errorf("summary claims agent %d of vantage %s; the request is agent %d's, of vantage %s: %w",
			sm.AgentID, sm.Vantage, a.ID, a.Vantage, storage.ErrWrongVantage))
		return
	}
	if !sm.PeriodEnd.After(sm.PeriodStart) {
		s.problem(w, r, http.StatusBadRequest, a.ID, fmt.Errorf("summary period %s to %s: the end must be after the start",
			sm.PeriodStart.Format(time.RFC3339), sm.PeriodEnd.Format(time.RFC3339)))
		return
	}
	dup, err := s.cfg.Store.PutAgentSummary(r.Context(), storage.AgentSummary{AgentID: a.ID, Vantage: a.Vantage, PeriodStart: sm.PeriodStart,
		PeriodEnd: sm.PeriodEnd, Body: body, BodySHA256: sum[:], Signature: sig, ReceivedAt: s.cfg.Now()})
	if errors.Is(err, storage.ErrResultClashes) {
		s.problem(w, r, http.StatusConflict, a.ID, err)
		return
	}
	if err != nil {
		s.problem(w, r, http.StatusInternalServerError, a.ID, err)
		return
	}
	writeJSON(w, map[string]any{"stored": !dup, "duplicate": dup})
}
