package job

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/varde/varde/agentwire"
	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/evidencelog"
	"github.com/varde/varde/storage"
)

// agentKeys is the agents table as BuildMonitoring reads it: public keys by agent ID.
type agentKeys map[int64]ed25519.PublicKey

func (k agentKeys) AgentByID(_ context.Context, id int64) (storage.Agent, error) {
	pub, ok := k[id]
	if !ok {
		return storage.Agent{}, storage.ErrNotFound
	}
	return storage.Agent{ID: id, PublicKey: pub}, nil
}

// summary makes one signed interval summary of target nix (icmp, 198.18.0.2) with the given RTTs in ms,
// in order.
func summary(t *testing.T, id, agentID int64, key ed25519.PrivateKey, vantage string, start time.Time, rtts ...float64) storage.AgentSummary {
	t.Helper()
	return summaryOf(t, id, agentID, key, vantage, "nix", "198.18.0.2", start, rtts...)
}

func summaryOf(t *testing.T, id, agentID int64, key ed25519.PrivateKey, vantage, target, addr string, start time.Time, rtts ...float64) storage.AgentSummary {
	t.Helper()
	ts := agentwire.TargetSummary{Target: target, Address: addr, Kind: "icmp", Sent: len(rtts) + 1, Received: len(rtts),
		Counts: make([]int, len(agentwire.HistogramEdgesMS)+1)}
	ns := func(ms float64) int64 { return int64(ms * 1e6) }
	ts.MinNS, ts.MaxNS = ns(rtts[0]), ns(rtts[len(rtts)-1]) // rtts in order
	ts.MedianNS, ts.P95NS = ns(rtts[len(rtts)/2]), ns(rtts[len(rtts)-1])
	ts.Counts[3] = len(rtts)
	body, err := json.Marshal(agentwire.Summary{AgentID: agentID, Vantage: vantage, AgentVersion: "test", PeriodStart: start,
		PeriodEnd: start.Add(5 * time.Minute), Targets: []agentwire.TargetSummary{ts}})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	return storage.AgentSummary{ID: id, AgentID: agentID, Vantage: vantage, PeriodStart: start, PeriodEnd: start.Add(5 * time.Minute),
		Body: body, BodySHA256: sum[:], Signature: agentwire.SignResult(key, body)}
}

// The period's figures: min and max over every interval, the median of medians, the p95 of p95s,
// intervals counted once when two agents of the vantage summarise the same one, gaps counted in
// intervals, and a summary that does not verify left out and named.
func TestBuildMonitoring(t *testing.T) {
	t.Parallel()
	pub1, key1, _ := ed25519.GenerateKey(rand.Reader)
	pub2, key2, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	t0 := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * 5 * time.Minute) }
	sms := []storage.AgentSummary{
		summary(t, 1, 1, key1, "bergen", at(0), 3.1, 3.2, 3.9),
		summary(t, 2, 2, key2, "bergen", at(0), 3.0, 3.3, 3.5), // a second agent, same interval
		summary(t, 3, 1, key1, "bergen", at(1), 3.2, 3.4, 4.4),
		summary(t, 4, 1, key1, "bergen", at(4), 3.3, 3.6, 9.0),  // intervals 2 and 3 missing
		summary(t, 5, 1, other, "bergen", at(5), 0.1, 0.1, 0.1), // signed by another key
		summary(t, 6, 1, key1, "bergen", at(6), 3.2, 3.5, 4.0),
	}
	e, err := BuildMonitoring(context.Background(), agentKeys{1: pub1, 2: pub2}, "bergen", t0, t0.AddDate(0, 3, 0), sms)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Refused) != 1 || !strings.Contains(e.Refused[0], "summary 5") {
		t.Errorf("refused %q, want summary 5", e.Refused)
	}
	if got := e.SummaryIDs; len(got) != 5 || got[4] != 6 {
		t.Errorf("summary IDs %v", got)
	}
	if len(e.Targets) != 1 {
		t.Fatalf("targets %+v", e.Targets)
	}
	mt := e.Targets[0]
	ms := func(v float64) int64 { return int64(v * 1e6) }
	want := MonitoringTarget{Target: "nix", Address: "198.18.0.2", Kind: "icmp", FirstStart: "2026-07-01T00:00:00Z", LastEnd: "2026-07-01T00:35:00Z",
		Intervals: 4, IntervalNS: int64(5 * time.Minute), Gaps: 3, LongestGapNS: int64(10 * time.Minute), Sent: 20, Received: 15,
		MinNS: ms(3.0), MedianNS: ms(3.4), P95NS: ms(9.0), MaxNS: ms(9.0)}
	want.Histogram = mt.Histogram
	// Gaps: 00:10 to 00:20 (two intervals, the longest) and 00:25 to 00:30 (the refused summary's interval).
	if !sameTarget(mt, want) {
		t.Errorf("target\n got %+v\nwant %+v", mt, want)
	}
	if mt.Histogram[3] != 15 {
		t.Errorf("histogram %v: want the 15 replies in bucket 3", mt.Histogram)
	}
	// The digest names exactly the summaries used: another body under the same ID changes it.
	used := []storage.AgentSummary{sms[0], sms[1], sms[2], sms[3], sms[5]}
	if e.SummariesSHA256 != MonitoringDigest(used) {
		t.Errorf("digest %s, want %s", e.SummariesSHA256, MonitoringDigest(used))
	}
	used[2] = summary(t, 3, 1, key1, "bergen", at(1), 3.2, 3.4, 4.5)
	if e.SummariesSHA256 == MonitoringDigest(used) {
		t.Error("digest unchanged by another body")
	}
	// The physics check gets the period's minimum from bergen for the address.
	tbl := residency.RTTTable{}
	monitoredRTT(tbl, []MonitoringEntry{e}, map[string]residency.Vantage{"bergen": {Name: "bergen", Lat: 60.39, Lon: 5.32}})
	obs := tbl[netip.MustParseAddr("198.18.0.2")]
	if len(obs) != 1 || obs[0].MinRTT != 3*time.Millisecond || obs[0].Vantage.Name != "bergen" || obs[0].Received != 15 {
		t.Errorf("RTT table %+v", obs)
	}
	// And its finding says where a minimum came from.
	if got := periodMinimum([]MonitoringEntry{e}, "bergen", "198.18.0.2", 3*time.Millisecond); got != "; the lowest of bergen's 4 monitoring intervals, 2026-07-01 to 2026-07-01" {
		t.Errorf("period minimum: %q", got)
	}
	if got := periodMinimum([]MonitoringEntry{e}, "bergen", "198.18.0.2", 2*time.Millisecond); got != "" {
		t.Errorf("an audit's own minimum attributed to monitoring: %q", got)
	}
}

func sameTarget(a MonitoringTarget, b MonitoringTarget) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// A quarterly audit puts the quarter's monitoring summaries (and only those) into its chain, the
// compliance report shows them with the days they cover, `varde verify` recomputes them, and a rewritten
// summary is caught.
func TestQuarterlyAuditUsesMonitoring(t *testing.T) {
	t.Parallel()
	s, url := newStoreURL(t)
	ctx := context.Background()
	ag, key := enrolAgent(t, s, "bergen-bix")
	// Q3 2026: two intervals on 1 July, one on 30 September; one before and one after the quarter.
	for i, start := range []time.Time{
		time.Date(2026, 6, 30, 23, 55, 0, 0, time.UTC),
		time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 7, 1, 0, 5, 0, 0, time.UTC),
		time.Date(2026, 9, 30, 23, 55, 0, 0, time.UTC),
		time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC),
	} {
		sm := summary(t, 0, ag.ID, key, "bergen-bix", start, 3.1+float64(i)/10, 3.6, 4.2)
		sm.ReceivedAt = start.Add(5 * time.Minute)
		if _, err := s.PutAgentSummary(ctx, sm); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	res := runQ3WithBergen(t, s, dir, "")
	var msg string
	for _, st := range res.Steps {
		if st.Step == stepMonitoring {
			msg = st.Status + ": " + st.Message
		}
	}
	if !strings.HasPrefix(msg, "succeeded: monitoring between audits, 2026-07-01 to 2026-09-30: bergen-bix: 3 summaries, 1 targets") {
		t.Errorf("monitoring step: %q", msg)
	}
	es, err := s.MonitoringEntries(ctx, res.AuditID)
	if err != nil || len(es) != 1 {
		t.Fatalf("monitoring entries %v %v", es, err)
	}
	lg, err := OpenLogVerifier(s, filepath.Join(dir, "keys", evidencelog.PubKeyFile), filepath.Join(dir, "keys", "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := lg.VerifyAudit(ctx, res.AuditID)
	if err != nil || !strings.Contains(strings.Join(v.Checked, "\n"), "monitoring: 1 entries recompute from the 3 signed agent summaries") {
		t.Errorf("verify: %v\n%s", err, strings.Join(v.Checked, "\n"))
	}
	// The bundle carries the entry as a chain row; the Python checker, written from the format document,
	// accepts it.
	if _, err := exec.LookPath("python3"); err == nil {
		b, err := lg.ExportBundle(ctx, res.AuditID)
		if err != nil || len(b.Problems) > 0 {
			t.Fatalf("export: %v %v", err, b)
		}
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "bundle.json")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("python3", "../docs/verify-bundle.py", path).CombinedOutput(); err != nil || !strings.Contains(string(out), "note: 1 monitoring entries (bergen-bix)") || !strings.Contains(string(out), "verified") {
			t.Errorf("verify-bundle.py: %v\n%s", err, out)
		}
	} else if os.Getenv("CI") == "true" {
		t.Fatal("python3 not installed")
	}
	// The compliance PDF shows the quarter's figures with their days.
	if _, err := exec.LookPath("pdftotext"); err == nil {
		out, err := exec.Command("pdftotext", "-layout", res.Reports[0].Path, "-").Output()
		if err != nil {
			t.Fatal(err)
		}
		flat := strings.Join(strings.Fields(string(out)), " ")
		for _, want := range []string{"Latency across the period (monitoring between audits)", "bergen-bix nix 198.18.0.2 icmp 2026-07-01 –",
			"2026-09-30", "3.20 3.60 4.20 4.20"} {
			if !strings.Contains(flat, want) {
				t.Errorf("compliance report lacks %q", want)
			}
		}
	} else if os.Getenv("CI") == "true" {
		t.Fatal("pdftotext not installed")
	}
	// A summary rewritten behind the audit's back (by the database owner) no longer matches its chain.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `ALTER TABLE agent_summaries DISABLE TRIGGER agent_summaries_append_only;
		UPDATE agent_summaries SET body_sha256 = sha256(body || ' '::bytea), body = body || ' '::bytea WHERE period_start = '2026-07-01T00:05:00Z'`); err != nil {
		t.Fatal(err)
	}
	if _, err := lg.VerifyAudit(ctx, res.AuditID); err == nil || !strings.Contains(err.Error(), "an agent_summaries row was rewritten") {
		t.Errorf("verify after a rewritten summary: %v", err)
	}
}

// enrolAgent enrols an agent of vantage with a new key, as the agent server would.
func enrolAgent(t *testing.T, s *storage.Store, vantage string) (storage.Agent, ed25519.PrivateKey) {
	t.Helper()
	ctx := context.Background()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	tok := sha256.Sum256([]byte("enrolment " + vantage))
	if _, err := s.CreateEnrolment(ctx, vantage, tok[:], clock().AddDate(0, -4, 0), clock()); err != nil {
		t.Fatal(err)
	}
	ag, err := s.Enrol(ctx, tok[:], storage.Agent{Vantage: vantage, Name: vantage + "-1", PublicKey: pub, Version: "test"}, clock().AddDate(0, -4, 0))
	if err != nil {
		t.Fatal(err)
	}
	return ag, key
}

// The residency physics takes a vantage's minimum RTT over the period from its monitoring: a store GeoIP
// puts in the US that answered in 3 ms from Bergen on one of the quarter's intervals cannot be in the US,
// and the finding says the minimum is the lowest of Bergen's monitoring intervals, and over which days.
func TestMonitoringMinimumInPhysics(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	ag, key := enrolAgent(t, s, "bergen-bix")
	for i, rtt := range []float64{5.0, 3.0, 4.0} {
		start := time.Date(2026, 8, 10+i, 12, 0, 0, 0, time.UTC)
		sm := summaryOf(t, 0, ag.ID, key, "bergen-bix", "analytics", "52.216.0.1", start, rtt, rtt+1, rtt+2)
		sm.ReceivedAt = start.Add(5 * time.Minute)
		if _, err := s.PutAgentSummary(ctx, sm); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(inv, []byte(`stores:
  - {name: analytics-us, host: 52.216.0.1, kind: s3, purpose: p, data_category: ordinary, role: processor,
     transfer_mechanism: {type: sccs, reference: "DPA 7"}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	res := runQ3WithBergen(t, s, dir, inv)
	fs, err := s.Findings(ctx, res.AuditID)
	if err != nil {
		t.Fatal(err)
	}
	var excluded, stated bool
	for _, f := range fs {
		text := f.Summary + " " + string(f.Evidence)
		if strings.Contains(text, "endpoint cannot be in country US") && strings.Contains(text, "bergen-bix") {
			excluded = true
		}
		if strings.Contains(text, "min RTT 3.00 ms, at the speed of light; the lowest of bergen-bix's 3 monitoring intervals, 2026-08-10 to 2026-08-12") {
			stated = true
		}
	}
	if !excluded || !stated {
		for _, f := range fs {
			t.Logf("%s %s: %s %s", f.RuleID, f.Subject, f.Summary, f.Evidence)
		}
		t.Errorf("physics from the period minimum: excluded %v, stated %v", excluded, stated)
	}
}

// runQ3WithBergen runs an audit of 2026-Q3 from oslo-nix-1, with agent vantage bergen-bix (which no agent
// server serves: only its monitoring is in the store) and the given inventory.
func runQ3WithBergen(t *testing.T, s *storage.Store, dir, inv string) *Result {
	t.Helper()
	cfg := &Config{
		Organisation: "Fjordnett AS", Period: "2026-Q3", Inventory: inv, Vantage: "oslo-nix-1",
		Vantages: []Vantage{{Name: "oslo-nix-1", Latitude: 59.91, Longitude: 10.75},
			{Name: "bergen-bix", Latitude: 60.39, Longitude: 5.32, Agent: true}},
		Signing:   Signing{KeysDir: filepath.Join(dir, "keys"), Init: true},
		OutputDir: filepath.Join(dir, "out"),
	}
	res, err := Run(context.Background(), cfg, Options{Store: s, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	return res
}
