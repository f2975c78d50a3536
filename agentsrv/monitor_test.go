package agentsrv_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/varde/varde/agent"
	"github.com/varde/varde/agentwire"
)

// Monitoring between audits: an agent measures its vantage's monitored targets every interval and sends
// a signed summary of each (min/median/p95/max, loss, histogram), stored once per interval.
func TestMonitoringSummaries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	spec := agentwire.Spec{TCP: 4, IntervalNS: int64(10 * time.Millisecond), TimeoutNS: int64(time.Second)}
	for i, a := range listeners(t, 2) {
		host, port, _ := net.SplitHostPort(a)
		p, _ := strconv.Atoi(port)
		spec.Targets = append(spec.Targets, agentwire.Target{Name: "m" + strconv.Itoa(i), Host: host, Port: uint16(p)})
	}
	if err := e.srv.SetMonitor(ctx, "bergen", spec, time.Second); err != nil {
		t.Fatal(err)
	}
	a := e.enrol("bergen", func(c *agent.Config) { c.MonitorPoll = 100 * time.Millisecond })
	actx, stop := context.WithCancel(ctx)
	defer stop()
	go a.Run(actx)
	from := e.clock.Now().Add(-time.Hour)
	deadline := time.Now().Add(20 * time.Second)
	for {
		sms, err := e.store.AgentSummaries(ctx, "bergen", from, from.Add(2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(sms) >= 3 {
			stop()
			for i, sm := range sms {
				if !agentwire.VerifyResult(ed25519.PublicKey(mustAgents(t, e)[0].PublicKey), sm.Body, sm.Signature) {
					t.Errorf("summary %d: signature does not verify", i)
				}
				if sm.PeriodEnd.Sub(sm.PeriodStart) != time.Second || (i > 0 && sm.PeriodStart.Before(sms[i-1].PeriodEnd)) {
					t.Errorf("summary %d: period %v to %v", i, sm.PeriodStart, sm.PeriodEnd)
				}
				var body agentwire.Summary
				if err := json.Unmarshal(sm.Body, &body); err != nil {
					t.Fatal(err)
				}
				if len(body.Targets) != 2 {
					t.Fatalf("summary %d: %d targets", i, len(body.Targets))
				}
				for _, ts := range body.Targets {
					n := 0
					for _, c := range ts.Counts {
						n += c
					}
					if ts.Kind != "tcp" || ts.Sent != 4 || ts.Received != 4 || n != 4 || ts.MinNS <= 0 ||
						!(ts.MinNS <= ts.MedianNS && ts.MedianNS <= ts.P95NS && ts.P95NS <= ts.MaxNS) || body.Clock.Source == "" {
						t.Errorf("summary %d: %+v", i, ts)
					}
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d summaries after 20s, want 3", len(sms))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
