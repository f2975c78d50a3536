package job

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/varde/varde/agentwire"
	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/storage"
)

// stepMonitoring puts the agents' monitoring between audits into the audit's evidence.
const stepMonitoring = "monitoring"

// MonitoringEntry is the body of one monitoring entry of an audit's chain (storage.EntryMonitoring): for
// one vantage, what its agents' signed per-interval summaries in the audited period say, computed when the
// audit ran, and exactly which summaries that was: SummaryIDs in order, and SummariesSHA256 over them
// (MonitoringDigest). The reports read these figures from the chain; `varde verify` recomputes the
// digest and the figures from agent_summaries.
type MonitoringEntry struct {
	Vantage string `json:"vantage"`
	// From and Until bound the summaries used: those whose interval starts in [From, Until).
	From  string `json:"from"`
	Until string `json:"until"`
	// SummaryIDs are the agent_summaries rows the figures are computed from, oldest first.
	SummaryIDs      []int64 `json:"summary_ids"`
	SummariesSHA256 string  `json:"summaries_sha256"`
	// Refused names summaries that were not used: a signature that does not verify, or a body that
	// does not parse.
	Refused []string           `json:"refused,omitempty"`
	Targets []MonitoringTarget `json:"targets"`
}

// MonitoringTarget is one target and probe kind over the period, from the interval summaries. Min and Max
// are the lowest and highest RTT of any interval; Median is the median of the intervals' medians and P95
// the 95th percentile (nearest rank) of the intervals' p95s, since a summary keeps no samples.
type MonitoringTarget struct {
	Target  string `json:"target"`
	Address string `json:"address,omitempty"`
	Kind    string `json:"kind"`
	// FirstStart and LastEnd are the first interval's start and the last one's end (RFC 3339, UTC).
	FirstStart string `json:"first_start"`
	LastEnd    string `json:"last_end"`
	Intervals  int    `json:"intervals"`
	IntervalNS int64  `json:"interval_ns"`
	// Gaps counts the intervals missing between FirstStart and LastEnd; LongestGapNS is the longest time
	// between one interval's end and the next one's start.
	Gaps         int   `json:"gaps"`
	LongestGapNS int64 `json:"longest_gap_ns"`
	Sent         int   `json:"sent"`
	Received     int   `json:"received"`
	MinNS        int64 `json:"min_ns"`
	MedianNS     int64 `json:"median_ns"`
	P95NS        int64 `json:"p95_ns"`
	MaxNS        int64 `json:"max_ns"`
	// Histogram is the sum of the intervals' histograms (edges: agentwire.HistogramEdgesMS).
	Histogram []int `json:"histogram"`
}

// MonitoringDigest is sha256 over the summaries in order, each as its ID (uint64, big-endian) followed by
// the sha256 of its body as stored: it names exactly which signed bodies an entry was computed from.
func MonitoringDigest(sms []storage.AgentSummary) string {
	h := sha256.New()
	var b [8]byte
	for _, sm := range sms {
		binary.BigEndian.PutUint64(b[:], uint64(sm.ID))
		h.Write(b[:])
		h.Write(sm.BodySHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// summaryKeys reads the public keys of the agents that signed sms.
type summaryKeys interface {
	AgentByID(ctx context.Context, id int64) (storage.Agent, error)
}

// BuildMonitoring computes a vantage's monitoring entry from its stored summaries. A summary whose
// signature does not verify with its agent's key, or whose body does not parse or names another vantage,
// is listed in Refused and not used.
func BuildMonitoring(ctx context.Context, keys summaryKeys, vantage string, from, until time.Time, sms []storage.AgentSummary) (MonitoringEntry, error) {
	e := MonitoringEntry{Vantage: vantage, From: canonTime(from), Until: canonTime(until)}
	type acc struct {
		t       MonitoringTarget
		first   time.Time
		lastEnd time.Time
		medians []int64
		p95s    []int64
		starts  []time.Time
		ends    []time.Time
	}
	accs := map[string]*acc{}
	var order []string
	pubs := map[int64][]byte{}
	var used []storage.AgentSummary
	for _, sm := range sms {
		pub, ok := pubs[sm.AgentID]
		if !ok {
			a, err := keys.AgentByID(ctx, sm.AgentID)
			if err != nil {
				return e, fmt.Errorf("monitoring of vantage %s: summary %d: %w", vantage, sm.ID, err)
			}
			pub, pubs[sm.AgentID] = a.PublicKey, a.PublicKey
		}
		sum := sha256.Sum256(sm.Body)
		var body agentwire.Summary
		switch {
		case !agentwire.VerifyResult(pub, sm.Body, sm.Signature) || !slices.Equal(sum[:], sm.BodySHA256):
			e.Refused = append(e.Refused, fmt.Sprintf("summary %d of agent %d: the signature does not verify with the agent's key", sm.ID, sm.AgentID))
			continue
		case json.Unmarshal(sm.Body, &body) != nil:
			e.Refused = append(e.Refused, fmt.Sprintf("summary %d of agent %d: the body does not parse", sm.ID, sm.AgentID))
			continue
		case body.Vantage != vantage || body.AgentID != sm.AgentID:
			e.Refused = append(e.Refused, fmt.Sprintf("summary %d of agent %d: the body names agent %d of vantage %s", sm.ID, sm.AgentID, body.AgentID, body.Vantage))
			continue
		}
		used = append(used, sm)
		e.SummaryIDs = append(e.SummaryIDs, sm.ID)
		for _, ts := range body.Targets {
			key := ts.Target + "\x00" + ts.Kind + "\x00" + ts.Address
			a := accs[key]
			if a == nil {
				a = &acc{t: MonitoringTarget{Target: ts.Target, Address: ts.Address, Kind: ts.Kind,
					Histogram: make([]int, len(agentwire.HistogramEdgesMS)+1)}}
				accs[key] = a
				order = append(order, key)
			}
			a.starts = append(a.starts, body.PeriodStart)
			a.ends = append(a.ends, body.PeriodEnd)
			a.t.Sent += ts.Sent
			a.t.Received += ts.Received
			for i, c := range ts.Counts {
				if i < len(a.t.Histogram) {
					a.t.Histogram[i] += c
				}
			}
			if ts.Received == 0 {
				continue
			}
			if a.t.MinNS == 0 || ts.MinNS < a.t.MinNS {
				a.t.MinNS = ts.MinNS
			}
			a.t.MaxNS = max(a.t.MaxNS, ts.MaxNS)
			a.medians = append(a.medians, ts.MedianNS)
			a.p95s = append(a.p95s, ts.P95NS)
		}
	}
	e.SummariesSHA256 = MonitoringDigest(used)
	sort.Strings(order)
	for _, key := range order {
		a := accs[key]
		coverage(&a.t, a.starts, a.ends)
		a.t.MedianNS = nearestRank(a.medians, 0.5)
		a.t.P95NS = nearestRank(a.p95s, 0.95)
		e.Targets = append(e.Targets, a.t)
	}
	return e, nil
}

// coverage fills the days, intervals and gaps of one target's intervals. Two agents of a vantage
// summarising the same interval count it once.
func coverage(t *MonitoringTarget, starts, ends []time.Time) {
	type iv struct{ s, e time.Time }
	var ivs []iv
	for i := range starts {
		ivs = append(ivs, iv{starts[i].UTC(), ends[i].UTC()})
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].s.Before(ivs[j].s) })
	ivs = slices.CompactFunc(ivs, func(a, b iv) bool { return a.s.Equal(b.s) })
	if len(ivs) == 0 {
		return
	}
	lens := make([]int64, len(ivs))
	for i, v := range ivs {
		lens[i] = int64(v.e.Sub(v.s))
	}
	step := nearestRank(lens, 0.5) // the configured interval, robust to one odd one
	t.Intervals, t.IntervalNS = len(ivs), step
	t.FirstStart, t.LastEnd = canonTime(ivs[0].s), canonTime(ivs[len(ivs)-1].e)
	for i := 1; i < len(ivs); i++ {
		gap := ivs[i].s.Sub(ivs[i-1].e)
		if gap > 0 {
			t.LongestGapNS = max(t.LongestGapNS, int64(gap))
			if step > 0 {
				t.Gaps += int((int64(gap) + step/2) / step)
			}
		}
	}
}

// nearestRank is the q quantile of vs by nearest rank; 0 for none.
func nearestRank(vs []int64, q float64) int64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func canonTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// agentVantages: the config names a vantage measured by agents, whose monitoring the audit then looks for.
func (c *Config) agentVantages() bool {
	for _, v := range c.Vantages {
		if v.Agent {
			return true
		}
	}
	return false
}

// monitoring is the audit's monitoring step: for each vantage, the summaries whose intervals start in the
// audited period go into the chain as one entry.
func (r *runner) monitoring(ctx context.Context) (string, error) {
	if r.periodStart == nil || r.periodEnd == nil {
		return "the audit has no period: monitoring summaries are used only by audits of a period", errSkipped
	}
	from, until := *r.periodStart, r.periodEnd.AddDate(0, 0, 1)
	var lines []string
	for _, v := range r.cfg.Vantages {
		sms, err := r.s.AgentSummaries(ctx, v.Name, from, until)
		if err != nil {
			return "", err
		}
		if len(sms) == 0 {
			if v.Agent {
				lines = append(lines, fmt.Sprintf("%s: no monitoring summaries in the period", v.Name))
			}
			continue
		}
		e, err := BuildMonitoring(ctx, r.s, v.Name, from, until, sms)
		if err != nil {
			return "", err
		}
		body, err := json.Marshal(e)
		if err != nil {
			return "", fmt.Errorf("monitoring of vantage %s: %w", v.Name, err)
		}
		if err := r.s.AppendMonitoring(ctx, r.auditID, body); err != nil {
			return "", err
		}
		r.monitored = append(r.monitored, e)
		line := fmt.Sprintf("%s: %d summaries, %d targets", v.Name, len(e.SummaryIDs), len(e.Targets))
		if len(e.Refused) > 0 {
			line += fmt.Sprintf("; %d refused (%s)", len(e.Refused), strings.Join(e.Refused, "; "))
		}
		lines = append(lines, line)
	}
	if len(r.monitored) == 0 {
		return "no vantage has monitoring summaries in the period" + joinLines(lines), errSkipped
	}
	return "monitoring between audits, " + fmtDay(from) + " to " + fmtDay(until.AddDate(0, 0, -1)) + ": " + strings.Join(lines, "; ") +
		"; the residency physics also uses each vantage's minimum RTT over the period", nil
}

func joinLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return " (" + strings.Join(lines, "; ") + ")"
}

func fmtDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// monitoredRTT adds the period's minimum RTT per vantage and address from the monitoring entries: a
// minimum over the period is still a bound on distance.
func monitoredRTT(t residency.RTTTable, es []MonitoringEntry, vs map[string]residency.Vantage) {
	for _, e := range es {
		v, ok := vs[e.Vantage]
		if !ok {
			continue
		}
		for _, mt := range e.Targets {
			addr, err := netip.ParseAddr(mt.Address)
			if err != nil || mt.Received == 0 || mt.MinNS <= 0 {
				continue
			}
			at, _ := time.Parse(time.RFC3339Nano, mt.FirstStart)
			t.Add(residency.RTTObservation{Vantage: v, Addr: addr, MinRTT: time.Duration(mt.MinNS), Received: mt.Received, MeasuredAt: at})
		}
	}
}

// periodMinimum says, for a physics line, when its minimum RTT is the lowest of a vantage's monitoring
// intervals rather than one of the audit's own measurements.
func periodMinimum(es []MonitoringEntry, vantage, addr string, rtt time.Duration) string {
	for _, e := range es {
		if e.Vantage != vantage {
			continue
		}
		for _, t := range e.Targets {
			if t.Address == addr && t.Received > 0 && time.Duration(t.MinNS) == rtt {
				first, _ := time.Parse(time.RFC3339Nano, t.FirstStart)
				last, _ := time.Parse(time.RFC3339Nano, t.LastEnd)
				return fmt.Sprintf("; the lowest of %s's %d monitoring intervals, %s to %s", vantage, t.Intervals, fmtDay(first), fmtDay(last.Add(-time.Nanosecond)))
			}
		}
	}
	return ""
}

// monitoringEntries reads an audit's monitoring entries back from its chain.
func monitoringEntries(es []storage.Entry) ([]MonitoringEntry, error) {
	var out []MonitoringEntry
	for _, e := range es {
		var m MonitoringEntry
		if err := json.Unmarshal(e.Body, &m); err != nil {
			return nil, fmt.Errorf("monitoring entry seq %d: %w", e.Seq, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// checkMonitoring recomputes each monitoring entry of an audit from the agent_summaries rows it names:
// they must still hash to its digest, verify with their agents' keys, lie in its period and vantage, and
// give the figures it holds. "" when the audit has none.
func checkMonitoring(ctx context.Context, s *storage.Store, auditID int64) (string, error) {
	es, err := s.MonitoringEntries(ctx, auditID)
	if err != nil || len(es) == 0 {
		return "", err
	}
	mes, err := monitoringEntries(es)
	if err != nil {
		return "", failf("audit %d: %v", auditID, err)
	}
	n := 0
	for i, e := range mes {
		name := fmt.Sprintf("monitoring entry seq %d (vantage %s)", es[i].Seq, e.Vantage)
		sms, err := s.AgentSummariesByID(ctx, e.SummaryIDs)
		if err != nil {
			return "", failf("%s: %v", name, err)
		}
		if d := MonitoringDigest(sms); d != e.SummariesSHA256 {
			return "", failf("%s: the summaries it names hash to %s, it holds %s (an agent_summaries row was rewritten)", name, d, e.SummariesSHA256)
		}
		from, err1 := time.Parse(time.RFC3339Nano, e.From)
		until, err2 := time.Parse(time.RFC3339Nano, e.Until)
		if err := errors.Join(err1, err2); err != nil {
			return "", failf("%s: period: %v", name, err)
		}
		for _, sm := range sms {
			if sm.Vantage != e.Vantage || sm.PeriodStart.Before(from) || !sm.PeriodStart.Before(until) {
				return "", failf("%s: summary %d is of vantage %s at %s, outside the entry's vantage and period", name, sm.ID, sm.Vantage, canonTime(sm.PeriodStart))
			}
		}
		again, err := BuildMonitoring(ctx, s, e.Vantage, from, until, sms)
		if err != nil {
			return "", err
		}
		if len(again.Refused) > 0 {
			return "", failf("%s: %s", name, strings.Join(again.Refused, "; "))
		}
		want, _ := json.Marshal(again.Targets)
		got, _ := json.Marshal(e.Targets)
		if !bytes.Equal(want, got) {
			return "", failf("%s: its figures are not what its summaries give", name)
		}
		n += len(sms)
	}
	return fmt.Sprintf("monitoring: %d entries recompute from the %d signed agent summaries they name", len(mes), n), nil
}
