// Package metrics exposes what `varde serve` does as Prometheus metrics: HTTP request durations, audits
// by result, step durations, findings by verdict and severity, probe RTTs per vantage and target, and
// figures read from Postgres at scrape time (River's queue depth, each schedule's last successful run).
//
// No label takes an unbounded value: no audit, run or token IDs, no paths with IDs in them (routes are
// the ServeMux patterns), and vantage, target and schedule names come from the operator's configs.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/varde/varde/storage"
)

const namespace = "varde"

// Metrics holds the service's collectors in a registry of its own.
type Metrics struct {
	reg          *prometheus.Registry
	httpDuration *prometheus.HistogramVec
	audits       *prometheus.CounterVec
	stepDuration *prometheus.HistogramVec
	findings     *prometheus.CounterVec
	probeRTT     *prometheus.HistogramVec
	logger       *slog.Logger
}

// New makes the collectors and registers them, with Go runtime and process metrics. logger may be nil.
func New(logger *slog.Logger) *Metrics {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg:    prometheus.NewRegistry(),
		logger: logger,
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route (the ServeMux pattern), method and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "code"}),
		audits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "audits_total",
			Help: "Audits this process ran to an end, by final status (succeeded, partial, failed, interrupted).",
		}, []string{"result"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "audit_step_duration_seconds",
			Help:    "Duration of each audit step, by step and outcome.",
			Buckets: prometheus.ExponentialBucketsRange(0.01, 3600, 14),
		}, []string{"step", "status"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "findings_total",
			Help: "Findings of the audits this process ran, by verdict and severity.",
		}, []string{"verdict", "severity"}),
		probeRTT: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "probe_rtt_seconds",
			Help:    "Round-trip times (ICMP echo, TCP handshake) measured by the audits this process ran, by vantage, target and probe kind.",
			Buckets: prometheus.ExponentialBucketsRange(0.0001, 2, 16),
		}, []string{"vantage", "target", "probe"}),
	}
	m.reg.MustRegister(m.httpDuration, m.audits, m.stepDuration, m.findings, m.probeRTT,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds a collector (for example a DBCollector) to the registry.
func (m *Metrics) Register(c prometheus.Collector) error { return m.reg.Register(c) }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(m.logger.Handler(), slog.LevelError), ErrorHandling: promhttp.ContinueOnError,
	}))
}

// Instrument times every request h answers. The route label is the ServeMux pattern that matched
// (net/http sets Request.Pattern while routing), "unmatched" when none did.
func (m *Metrics) Instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.httpDuration.WithLabelValues(route, r.Method, strconv.Itoa(sw.code)).Observe(time.Since(start).Seconds())
	})
}

// statusWriter remembers the status code; Unwrap lets http.ResponseController flush through it.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.code, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// AuditSource is what ObserveAudit reads a finished audit from: storage.Store.
type AuditSource interface {
	EachFinding(ctx context.Context, auditID int64, fn func(*storage.Finding) error) error
	EachMeasurement(ctx context.Context, auditID int64, fn func(*storage.Measurement) error) error
}

// ObserveAudit counts a finished audit: its status, its steps' durations, its findings and every RTT
// sample it stored (read back from the database one measurement at a time).
func (m *Metrics) ObserveAudit(ctx context.Context, src AuditSource, auditID int64, status storage.AuditStatus, steps []storage.Step) error {
	m.audits.WithLabelValues(string(status)).Inc()
	for _, st := range steps {
		if d := st.FinishedAt.Sub(st.StartedAt); d >= 0 {
			m.stepDuration.WithLabelValues(st.Step, st.Status).Observe(d.Seconds())
		}
	}
	if err := src.EachFinding(ctx, auditID, func(f *storage.Finding) error {
		m.findings.WithLabelValues(f.Verdict, f.Severity).Inc()
		return nil
	}); err != nil {
		return err
	}
	return src.EachMeasurement(ctx, auditID, func(ms *storage.Measurement) error {
		h := m.probeRTT.WithLabelValues(ms.Vantage, ms.Target, ms.ProbeKind)
		for _, s := range ms.Samples {
			if s.Received && !s.Duplicate {
				h.Observe(s.RTT.Seconds())
			}
		}
		return nil
	})
}
