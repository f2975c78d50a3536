package job

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/varde/varde"
	"github.com/varde/varde/probes"
	"github.com/varde/varde/storage"
)

// MeasurementRecords turns probe results into storage records, keeping every sample. now stamps a result
// that carries no start time (a probe that never sent).
func MeasurementRecords(rs []probes.Result, now time.Time) ([]storage.Measurement, error) {
	out := make([]storage.Measurement, 0, len(rs))
	for _, r := range rs {
		stats, err := statsJSON(r)
		if err != nil {
			return nil, fmt.Errorf("measurement %s to %s (%s): stats: %w", r.Vantage, r.Target, r.Kind, err)
		}
		m := storage.Measurement{
			Vantage: r.Vantage, Target: r.Target, Port: int(r.Port), ProbeKind: string(r.Kind),
			Sent: r.Stats.Sent, Received: r.Stats.Received, Duplicates: r.Stats.Duplicates,
			Failure: string(r.Failure), StartedAt: r.Started, FinishedAt: r.Started,
			Tool: "varde", ToolVersion: varde.Version, Stats: stats,
		}
		if r.Address.IsValid() {
			m.Address = r.Address.String()
		}
		for _, s := range r.Samples {
			ss := storage.Sample{Idx: s.Seq, SentAt: s.SentAt, Received: s.Received, RTT: s.RTT,
				KernelRTT: s.KernelRTT, Duplicate: s.Duplicates > 0}
			if s.SYNRetransmitted {
				ss.Retransmits = 1
			}
			m.Samples = append(m.Samples, ss)
			if end := s.SentAt.Add(s.RTT); end.After(m.FinishedAt) {
				m.FinishedAt = end
			}
		}
		if m.StartedAt.IsZero() {
			m.StartedAt = now
			m.FinishedAt = m.StartedAt
		}
		out = append(out, m)
	}
	return out, nil
}

// statsJSON keeps the summary and the failure detail beside the samples, for reading without
// recomputing; reports recompute from the samples.
func statsJSON(r probes.Result) (json.RawMessage, error) {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	s := r.Stats
	v := map[string]any{
		"sent": s.Sent, "received": s.Received, "duplicates": s.Duplicates, "loss_pct": s.LossPct,
		"error": r.Err,
	}
	if s.Errors > 0 {
		// Samples whose outcome the probe could not know (a full socket buffer, a send error): never loss.
		v["errors"] = s.Errors
	}
	if s.Received > 0 {
		v["min_ms"], v["median_ms"], v["mean_ms"] = ms(s.Min), ms(s.Median), ms(s.Mean)
		v["p95_ms"], v["max_ms"], v["mdev_ms"], v["jitter_ms"] = ms(s.P95), ms(s.Max), ms(s.Mdev), ms(s.Jitter)
	}
	// The samples table keeps one RTT, a kernel RTT and a duplicate flag per sample. Which clock gave the
	// RTT, the TCP connect() wall time beside the kernel's and the number of duplicates go here, for the
	// samples that have any, until the samples table has columns for them.
	var details []sampleDetail
	for _, smp := range r.Samples {
		d := sampleDetail{Idx: smp.Seq, RTTSource: string(smp.RTTSource), WallRTTMS: ms(smp.WallRTT), Duplicates: smp.Duplicates}
		if !smp.Received {
			d.Failure = string(smp.Failure)
		}
		if d.RTTSource != "" || d.WallRTTMS != 0 || d.Duplicates != 0 || d.Failure != "" {
			details = append(details, d)
		}
	}
	if len(details) > 0 {
		v["samples"] = details
	}
	return json.Marshal(v)
}

// sampleDetail is what the samples table has no column for, kept in the measurement's stats JSON.
type sampleDetail struct {
	Idx        int     `json:"idx"`
	RTTSource  string  `json:"rtt_source,omitempty"`
	WallRTTMS  float64 `json:"wall_rtt_ms,omitempty"`
	Duplicates int     `json:"duplicates,omitempty"`
	// Failure is why a sample got no reply; "overflow" and "error" are measurement errors, not loss.
	Failure string `json:"failure,omitempty"`
}

// StatsOf recomputes a stored measurement's statistics from its stored samples, with each unanswered
// sample's failure from the stats JSON, so a measurement error is never recomputed into loss.
func StatsOf(m storage.Measurement) probes.Stats {
	var stored struct {
		Samples []sampleDetail `json:"samples"`
	}
	// Stats written before sample details existed have none, and a sample without a detail has no
	// failure. Stats that do not parse are left to the chain's verification, which covers their bytes.
	_ = json.Unmarshal(m.Stats, &stored)
	failure := map[int]probes.Failure{}
	for _, d := range stored.Samples {
		if d.Failure != "" {
			failure[d.Idx] = probes.Failure(d.Failure)
		}
	}
	ss := make([]probes.Sample, len(m.Samples))
	for i, s := range m.Samples {
		ss[i] = probes.Sample{Seq: s.Idx, SentAt: s.SentAt, RTT: s.RTT, Received: s.Received, KernelRTT: s.KernelRTT}
		if s.Duplicate {
			ss[i].Duplicates = 1
		}
		if !s.Received {
			ss[i].Failure = failure[s.Idx]
		}
	}
	return probes.ComputeStats(ss)
}

// StoreProbeResults appends probe results to an audit; now is the injected clock (see MeasurementRecords).
func StoreProbeResults(ctx context.Context, s *storage.Store, auditID int64, rs []probes.Result, now time.Time) error {
	ms, err := MeasurementRecords(rs, now)
	if err != nil {
		return err
	}
	if err := s.AppendMeasurements(ctx, auditID, ms); err != nil {
		return fmt.Errorf("store measurements: %w", err)
	}
	return nil
}
