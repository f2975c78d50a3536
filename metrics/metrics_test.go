package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/varde/varde/storage"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestInstrumentLabelsByRoutePattern(t *testing.T) {
	t.Parallel()
	m := New(nil)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/audits/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) })
	h := m.Instrument(mux)
	for _, p := range []string{"/v1/audits/1", "/v1/audits/2", "/v1/audits/3", "/nothing/here"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	// Three audits, one series: the route is the pattern, never the path with its ID.
	if n := testutil.CollectAndCount(m.httpDuration); n != 2 {
		t.Fatalf("%d series, want 2 (the pattern and unmatched)", n)
	}
	out := scrape(t, m)
	for _, want := range []string{
		`varde_http_request_duration_seconds_count{code="404",method="GET",route="GET /v1/audits/{id}"} 3`,
		`varde_http_request_duration_seconds_count{code="404",method="GET",route="unmatched"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

// source is an audit as storage would hand it over.
type source struct {
	fs []storage.Finding
	ms []storage.Measurement
}

func (s source) EachFinding(_ context.Context, _ int64, fn func(*storage.Finding) error) error {
	for i := range s.fs {
		if err := fn(&s.fs[i]); err != nil {
			return err
		}
	}
	return nil
}

func (s source) EachMeasurement(_ context.Context, _ int64, fn func(*storage.Measurement) error) error {
	for i := range s.ms {
		if err := fn(&s.ms[i]); err != nil {
			return err
		}
	}
	return nil
}

func TestObserveAudit(t *testing.T) {
	t.Parallel()
	m := New(nil)
	t0 := time.Date(2026, 10, 1, 6, 0, 0, 0, time.UTC)
	src := source{
		fs: []storage.Finding{{Verdict: "in_eea", Severity: "info"}, {Verdict: "in_eea", Severity: "info"}, {Verdict: "transfer_mechanism_required", Severity: "high"}},
		ms: []storage.Measurement{{Vantage: "oslo-nix-1", Target: "frankfurt", ProbeKind: "tcp", Samples: []storage.Sample{
			{Received: true, RTT: 25 * time.Millisecond}, {Received: false}, {Received: true, RTT: 26 * time.Millisecond, Duplicate: true},
		}}},
	}
	steps := []storage.Step{{Step: "probes", Status: "succeeded", StartedAt: t0, FinishedAt: t0.Add(3 * time.Second)}}
	if err := m.ObserveAudit(context.Background(), src, 7, storage.StatusSucceeded, steps); err != nil {
		t.Fatal(err)
	}
	out := scrape(t, m)
	for _, want := range []string{
		`varde_audits_total{result="succeeded"} 1`,
		`varde_findings_total{severity="info",verdict="in_eea"} 2`,
		`varde_findings_total{severity="high",verdict="transfer_mechanism_required"} 1`,
		`varde_probe_rtt_seconds_count{probe="tcp",target="frankfurt",vantage="oslo-nix-1"} 1`, // lost and duplicate replies are no RTT
		`varde_audit_step_duration_seconds_sum{status="succeeded",step="probes"} 3`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if strings.Contains(out, `"7"`) {
		t.Error("an audit ID appears as a label value")
	}
}

type queue struct{ err error }

func (q queue) QueueDepth(context.Context) (map[string]int64, error) {
	return map[string]int64{"available": 2, "running": 1}, q.err
}

type runs struct{}

func (runs) LastSuccessfulRuns(context.Context) ([]storage.ScheduleSuccess, error) {
	return []storage.ScheduleSuccess{{ScheduleID: 3, ConfigName: "demo", At: time.Unix(1790000000, 0)}}, nil
}

func TestDBCollector(t *testing.T) {
	t.Parallel()
	m := New(nil)
	if err := m.Register(NewDBCollector(queue{}, runs{}, time.Second)); err != nil {
		t.Fatal(err)
	}
	out := scrape(t, m)
	for _, want := range []string{`varde_queue_jobs{state="available"} 2`, `varde_queue_jobs{state="running"} 1`,
		`varde_schedule_last_success_timestamp_seconds{config="demo",schedule_id="3"} 1.79e+09`, `varde_database_scrape_ok 1`} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	bad := New(nil)
	if err := bad.Register(NewDBCollector(queue{err: errors.New("down")}, runs{}, time.Second)); err != nil {
		t.Fatal(err)
	}
	if out := scrape(t, bad); !strings.Contains(out, "varde_database_scrape_ok 0") {
		t.Error("a failed query does not show as varde_database_scrape_ok 0")
	}
}
