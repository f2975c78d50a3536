package agentwire

import (
	"time"

	"github.com/varde/varde/probes"
)

// PathMonitor and PathSummary are monitoring between audits: what to measure every interval, and the
// signed summary of one interval.
const (
	PathMonitor = "/monitor"
	PathSummary = "/summary"
)

// Monitor is a vantage's monitoring between audits.
type Monitor struct {
	Spec       Spec  `json:"spec"`
	IntervalNS int64 `json:"interval_ns"`
}

// Summary is one agent's summary of one interval: per target and probe kind, what the samples were.
// Like a result, its body is signed (ResultMessage) and kept as sent.
type Summary struct {
	AgentID      int64           `json:"agent_id"`
	Vantage      string          `json:"vantage"`
	AgentVersion string          `json:"agent_version"`
	Clock        Clock           `json:"clock"`
	PeriodStart  time.Time       `json:"period_start"`
	PeriodEnd    time.Time       `json:"period_end"`
	Targets      []TargetSummary `json:"targets"`
}

// TargetSummary summarises one target and probe kind over an interval.
type TargetSummary struct {
	Target   string  `json:"target"`
	Address  string  `json:"address,omitempty"`
	Kind     string  `json:"kind"`
	Sent     int     `json:"sent"`
	Received int     `json:"received"`
	LossPct  float64 `json:"loss_pct"`
	MinNS    int64   `json:"min_ns,omitempty"`
	MedianNS int64   `json:"median_ns,omitempty"`
	P95NS    int64   `json:"p95_ns,omitempty"`
	MaxNS    int64   `json:"max_ns,omitempty"`
	// Histogram counts replies by RTT: Counts[i] are those below HistogramEdgesMS[i] (and at or above
	// the edge before); the last count is those at or above the last edge.
	Counts  []int  `json:"histogram"`
	Failure string `json:"failure,omitempty"`
}

// HistogramEdgesMS are the summary histogram's bucket edges, in ms of RTT.
var HistogramEdgesMS = []float64{0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}

// Summarise turns one interval's probe results into target summaries, statistics recomputed from the
// samples.
func Summarise(rs []probes.Result) []TargetSummary {
	out := make([]TargetSummary, 0, len(rs))
	for _, r := range rs {
		st := probes.ComputeStats(r.Samples)
		ts := TargetSummary{Target: r.Target, Kind: string(r.Kind), Sent: st.Sent, Received: st.Received, LossPct: st.LossPct,
			Counts: make([]int, len(HistogramEdgesMS)+1), Failure: string(r.Failure)}
		if r.Address.IsValid() {
			ts.Address = r.Address.String()
		}
		if st.Received > 0 {
			ts.MinNS, ts.MedianNS, ts.P95NS, ts.MaxNS = int64(st.Min), int64(st.Median), int64(st.P95), int64(st.Max)
		}
		for _, x := range r.Samples {
			if !x.Received {
				continue
			}
			ms := float64(x.RTT) / 1e6
			i := 0
			for i < len(HistogramEdgesMS) && ms >= HistogramEdgesMS[i] {
				i++
			}
			ts.Counts[i]++
		}
		out = append(out, ts)
	}
	return out
}
