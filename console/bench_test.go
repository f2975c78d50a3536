package console

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/varde/varde/agentwire"
	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/job"
	"github.com/varde/varde/reports/sign"
	"github.com/varde/varde/storage"
)

// bigAudit stores a finished, sealed audit with n findings (stores in several countries, transfers of
// every verdict and severity), latency measurements with their samples, RTT observations and both
// signed reports: what the console's pages are measured on.
func bigAudit(b *testing.B, e *env, n int) int64 {
	b.Helper()
	ctx := context.Background()
	t0 := e.clock.Now()
	cfg := job.Config{Organisation: "Fjordnett Hosting AS", Kind: "quarterly", Vantage: "oslo-nix-1",
		Vantages: []job.Vantage{{Name: "oslo-nix-1", City: "Oslo", Latitude: 59.91, Longitude: 10.75, Network: "NIX"},
			{Name: "bergen-1", City: "Bergen", Latitude: 60.39, Longitude: 5.32}},
		Targets: []job.Target{{Name: "oslo-nix", Label: "Our DC via NIX", Port: 443, Ours: true},
			{Name: "frankfurt", Label: "Frankfurt", Port: 443}, {Name: "us-east", Label: "US East", Port: 443}}}
	cj, err := json.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	a, err := e.store.CreateAudit(ctx, storage.NewAudit{Kind: storage.KindQuarterly, Organisation: cfg.Organisation,
		StartedAt: t0, ToolVersion: "bench", RulesVersion: "bench", Config: cj,
		Header: &storage.Header{Vantages: []storage.HeaderVantage{{Name: "oslo-nix-1", City: "Oslo", Latitude: 59.91, Longitude: 10.75}},
			Build: map[string]string{"module": "bench"}, RulesSHA256: "00"}})
	if err != nil {
		b.Fatal(err)
	}
	var ms []storage.Measurement
	rtt := map[string]time.Duration{"oslo-nix": 2 * time.Millisecond, "frankfurt": 25 * time.Millisecond, "us-east": 95 * time.Millisecond}
	for _, v := range cfg.Vantages {
		for _, tg := range cfg.Targets {
			for _, kind := range []string{"icmp", "tcp"} {
				m := storage.Measurement{Vantage: v.Name, Target: tg.Name, Address: "198.18.0.1", Port: 443, ProbeKind: kind,
					StartedAt: t0, FinishedAt: t0.Add(time.Minute), Tool: "bench", ToolVersion: "bench", Stats: json.RawMessage(`{}`)}
				for i := range 200 {
					m.Samples = append(m.Samples, storage.Sample{Idx: i, SentAt: t0.Add(time.Duration(i) * 100 * time.Millisecond),
						Received: true, RTT: rtt[tg.Name] + time.Duration(i%17)*37*time.Microsecond})
				}
				m.Sent, m.Received = len(m.Samples), len(m.Samples)
				ms = append(ms, m)
			}
		}
	}
	if err := e.store.AppendMeasurements(ctx, a.ID, ms); err != nil {
		b.Fatal(err)
	}
	var obs []storage.Observation
	for i := range 40 {
		addr := netip.AddrFrom4([4]byte{198, 18, 1, byte(i)})
		ro := residency.Observation{Kind: residency.ObservationRTT, Store: fmt.Sprintf("store-%d", i%20), Host: addr.String(), Addr: addr,
			RTT: &residency.RTTObservation{Vantage: residency.Vantage{Name: "oslo-nix-1", Lat: 59.91, Lon: 10.75}, Addr: addr,
				MinRTT: time.Duration(1+i) * time.Millisecond, Received: 10, MeasuredAt: t0}}
		d, err := json.Marshal(ro)
		if err != nil {
			b.Fatal(err)
		}
		obs = append(obs, storage.Observation{Subject: ro.Store, Host: ro.Host, Address: addr.String(), Source: residency.ObservationRTT,
			Details: d, ObservedAt: t0})
	}
	if err := e.store.AppendObservations(ctx, a.ID, obs); err != nil {
		b.Fatal(err)
	}
	countries := []string{"NO", "SE", "DE", "IE", "US", "FR", "NL", "JP", "GB", "CH"}
	statuses := []residency.Status{residency.StatusCompliant, residency.StatusNotCompliant, residency.StatusNotShownCompliant}
	verdicts := []residency.Verdict{residency.VerdictInEEA, residency.VerdictAdequate, residency.VerdictMechanismRequired, residency.VerdictNeedsReview, residency.VerdictUnknown, ""}
	sevs := []residency.Severity{residency.SeverityInfo, residency.SeverityLow, residency.SeverityMedium, residency.SeverityHigh, residency.SeverityCritical}
	fs := make([]storage.Finding, 0, n)
	for i := range n {
		f := storage.Finding{CreatedAt: t0, LegalReference: "GDPR Art. 44; GDPR Art. 45(3)"}
		if i < 20 {
			st := statuses[i%3]
			ev, _ := json.Marshal(map[string]any{"summary": map[string]any{"store": fmt.Sprintf("store-%d", i), "location": "somewhere",
				"addresses": []string{fmt.Sprintf("198.18.1.%d", i)}, "countries": []string{countries[i%len(countries)]},
				"verdict": "in_eea", "status": st, "compliant": st == residency.StatusCompliant, "physics": []string{"GeoIP NO: physics unverifiable"}}})
			f.Subject, f.RuleID, f.Severity, f.Verdict, f.Summary, f.Evidence = "store "+fmt.Sprint(i), residency.RuleStore, "high", "in_eea", "store summary", ev
			f.Compliant = new(st == residency.StatusCompliant)
		} else {
			v := verdicts[i%len(verdicts)]
			ev, _ := json.Marshal(map[string]any{"evidence": []string{fmt.Sprintf("GeoIP says %s for 198.18.%d.%d", countries[i%len(countries)], i/256%256, i%256),
				"resolved by the system resolver", "database geo-whois-asn-country built 2026-09-01"}})
			f.Subject, f.RuleID, f.Severity, f.Verdict = fmt.Sprintf("address 198.18.%d.%d", i/256%256, i%256), residency.RuleTransfer, string(sevs[i%len(sevs)]), string(v)
			f.Summary, f.Evidence = "a transfer judged by the bench", ev
			if v != "" {
				f.Compliant = new(i%3 != 0)
			} else {
				f.RuleID = residency.RuleAnycast
			}
		}
		fs = append(fs, f)
	}
	if err := e.store.AppendFindings(ctx, a.ID, fs); err != nil {
		b.Fatal(err)
	}
	if err := e.store.FinishAudit(ctx, a.ID, storage.StatusSucceeded, t0.Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	if _, err := e.store.SealAudit(ctx, a.ID, t0.Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	keys := filepath.Join(e.dir, "bench-keys")
	if _, err := sign.InitKeys(ctx, keys, sign.KeysConfig{Now: e.clock.Now}); err != nil {
		b.Fatal(err)
	}
	signer, err := sign.Load(filepath.Join(keys, sign.SignerFile), filepath.Join(keys, sign.SignerKeyFile), nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := job.GenerateReports(ctx, e.store, job.ReportOptions{AuditID: a.ID, Signer: signer, OutDir: filepath.Join(e.dir, "bench-out"), Now: e.clock.Now}); err != nil {
		b.Fatal(err)
	}
	if e.roots, err = sign.LoadCertPool(filepath.Join(keys, sign.CAFile)); err != nil {
		b.Fatal(err)
	}
	return a.ID
}

// benchAgents enrols n agents over 8 vantages, each with ten signed monitoring summaries of 20 targets,
// and gives one agent per vantage an audit task's signed result of 200 measurements of 5 samples: the
// agents page reads the head of each agent's latest body.
func benchAgents(b *testing.B, e *env, n int) {
	b.Helper()
	ctx := context.Background()
	t0 := e.clock.Now().Add(-2 * time.Hour)
	vantages := []string{"oslo-nix-1", "bergen-1", "stockholm-1", "trondheim-1", "tromso-1", "kristiansand-1", "copenhagen-1", "helsinki-1"}
	audit, err := e.store.CreateAudit(ctx, storage.NewAudit{Kind: storage.KindAdHoc, Organisation: "Fjordnett AS", StartedAt: t0,
		ToolVersion: "bench", RulesVersion: "bench", Config: json.RawMessage(`{}`), Header: &storage.Header{}})
	if err != nil {
		b.Fatal(err)
	}
	clock := agentwire.Clock{Source: "adjtimex", Synced: true, MaxErrorUS: 15_000, EstErrorUS: 300}
	for i := range n {
		v := vantages[i%len(vantages)]
		pub, key, _ := ed25519.GenerateKey(rand.Reader)
		tok := sha256.Sum256([]byte(fmt.Sprintf("bench-token-%d", i)))
		if _, err := e.store.CreateEnrolment(ctx, v, tok[:], t0, t0.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
		a, err := e.store.Enrol(ctx, tok[:], storage.Agent{Name: fmt.Sprintf("%s-agent-%d", v, i), PublicKey: pub, Version: "1.0.0"}, t0)
		if err != nil {
			b.Fatal(err)
		}
		for k := range 10 {
			start := t0.Add(time.Duration(k) * 5 * time.Minute)
			sm := agentwire.Summary{AgentID: a.ID, Vantage: v, AgentVersion: "1.0.0", Clock: clock, PeriodStart: start, PeriodEnd: start.Add(5 * time.Minute)}
			for j := range 20 {
				sm.Targets = append(sm.Targets, agentwire.TargetSummary{Target: fmt.Sprintf("target-%d", j), Kind: "tcp", Sent: 5, Received: 5,
					MinNS: 2e6, MedianNS: 2.1e6, P95NS: 2.5e6, MaxNS: 3e6, Counts: make([]int, len(agentwire.HistogramEdgesMS)+1)})
			}
			body, _ := json.Marshal(sm)
			sum := sha256.Sum256(body)
			if _, err := e.store.PutAgentSummary(ctx, storage.AgentSummary{AgentID: a.ID, Vantage: v, PeriodStart: sm.PeriodStart, PeriodEnd: sm.PeriodEnd,
				Body: body, BodySHA256: sum[:], Signature: agentwire.SignResult(key, body), ReceivedAt: sm.PeriodEnd}); err != nil {
				b.Fatal(err)
			}
		}
		if i < len(vantages) {
			task, err := e.store.CreateAgentTask(ctx, storage.AgentTask{AuditID: audit.ID, Vantage: v, Spec: json.RawMessage(`{}`),
				Deadline: t0.Add(2 * time.Hour), CreatedAt: t0})
			if err != nil {
				b.Fatal(err)
			}
			lt, err := e.store.LeaseAgentTask(ctx, v, a.ID, t0.Add(time.Hour), time.Minute)
			if err != nil || lt == nil || lt.ID != task.ID {
				b.Fatalf("lease: %+v %v", lt, err)
			}
			res := agentwire.Result{TaskID: task.ID, Attempt: lt.Attempt, AgentID: a.ID, Vantage: v, AgentVersion: "1.0.1", Clock: clock, Measured: t0.Add(time.Hour)}
			for j := range 200 {
				m := agentwire.Measurement{Target: fmt.Sprintf("target-%d", j), Kind: "tcp", Port: 443, Started: t0}
				for k := range 5 {
					m.Samples = append(m.Samples, agentwire.Sample{Seq: k, SentAt: t0.UnixNano(), RTT: 2e6, Received: true})
				}
				res.Measurements = append(res.Measurements, m)
			}
			body, _ := json.Marshal(res)
			sum := sha256.Sum256(body)
			if _, err := e.store.PutAgentResult(ctx, storage.AgentResult{TaskID: task.ID, Attempt: lt.Attempt, AgentID: a.ID, Body: body, BodySHA256: sum[:],
				Signature: agentwire.SignResult(key, body), Samples: res.Samples(), ReceivedAt: t0.Add(time.Hour)}, v); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkPages renders each page for an audit with 10,000 findings, as the server does for a signed-in
// request (session lookup included). The target is under 100 ms per page (ms/page).
func BenchmarkPages(b *testing.B) {
	e := newEnv(b, false)
	id := bigAudit(b, e, 10_000)
	h, err := New(Config{Now: e.clock.Now, Evidence: e.store, Sessions: e.store,
		Tokens: StoreTokens{Store: e.store, Now: e.clock.Now}, Schedules: ServiceSchedules{Service: e.sched, Store: e.store},
		ReportTrust: sign.VerifyConfig{Roots: e.roots}, Agents: e.store})
	if err != nil {
		b.Fatal(err)
	}
	benchAgents(b, e, 200)
	c := e.signIn(b, e.adminToken(b))
	var cookie *http.Cookie
	for _, k := range c.Jar.Cookies(mustURL(e.srv.URL)) {
		if k.Name == sessionCookie {
			cookie = k
		}
	}
	if cookie == nil {
		b.Fatal("no session")
	}
	if _, err := e.sched.CreateSchedule(context.Background(), storage.NewSchedule{ConfigName: "fjordnett-quarterly", Spec: "CRON_TZ=Europe/Oslo @quarterly", Enabled: true}); err != nil {
		b.Fatal(err)
	}
	for _, p := range []struct{ name, path string }{
		{"dashboard", "/"},
		{"audits", "/audits"},
		{"audit", fmt.Sprintf("/audits/%d", id)},
		{"audit-violations", fmt.Sprintf("/audits/%d?verdict=transfer_mechanism_required&compliant=no", id)},
		{"audit-page-50", fmt.Sprintf("/audits/%d?after=5000", id)},
		{"chain", fmt.Sprintf("/audits/%d/chain", id)},
		{"chain-fresh", fmt.Sprintf("/audits/%d/chain?fresh=1", id)},
		{"map", fmt.Sprintf("/audits/%d/map", id)},
		{"latency", fmt.Sprintf("/audits/%d/latency", id)},
		{"reports", fmt.Sprintf("/audits/%d/reports", id)},
		{"schedules", "/schedules"},
		{"schedule-form", "/schedules/new"},
		{"agents-200", "/agents"},
	} {
		b.Run(p.name, func(b *testing.B) {
			// One request first: a replica that has shown the page keeps a finished audit's chain check
			// and counts (chain-fresh measures the check itself).
			warm := httptest.NewRequest("GET", p.path, nil)
			warm.AddCookie(cookie)
			h.ServeHTTP(httptest.NewRecorder(), warm)
			for b.Loop() {
				req := httptest.NewRequest("GET", p.path, nil)
				req.AddCookie(cookie)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d\n%s", p.path, rec.Code, rec.Body.String())
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
		})
	}
}
