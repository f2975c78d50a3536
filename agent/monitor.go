package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/varde/varde/agentwire"
)

// monitorLoop is monitoring between audits: at every interval boundary of its vantage's monitoring it
// runs the configured probes and spools a signed summary of the interval, then delivers it. Without
// monitoring for its vantage it asks again every MonitorPoll.
func (a *Agent) monitorLoop(ctx context.Context) {
	for ctx.Err() == nil {
		m, err := a.fetchMonitor(ctx)
		if err != nil || m == nil || m.IntervalNS <= 0 {
			if err != nil && ctx.Err() == nil {
				a.log.Warn("monitor", "err", err)
			}
			sleep(ctx, a.cfg.MonitorPoll)
			continue
		}
		iv := time.Duration(m.IntervalNS)
		now := a.cfg.Now()
		start := now.Truncate(iv).Add(iv)
		sleep(ctx, start.Sub(now))
		if ctx.Err() != nil {
			return
		}
		if err := a.monitorOnce(ctx, m.Spec, start, start.Add(iv)); err != nil && ctx.Err() == nil {
			a.log.Warn("monitoring interval", "start", start, "err", err)
		}
	}
}

func (a *Agent) fetchMonitor(ctx context.Context) (*agentwire.Monitor, error) {
	return ask[agentwire.Monitor](ctx, a, agentwire.PathMonitor, []byte(`{}`), time.Minute)
}

// monitorOnce measures one interval and spools and delivers its summary.
func (a *Agent) monitorOnce(ctx context.Context, spec agentwire.Spec, start, end time.Time) error {
	a.measuring.Lock()
	rs, err := a.cfg.Measure(ctx, a.id.Vantage, spec)
	a.measuring.Unlock()
	if err != nil {
		return fmt.Errorf("measure: %w", err)
	}
	sm := agentwire.Summary{AgentID: a.id.AgentID, Vantage: a.id.Vantage, AgentVersion: a.cfg.Version, Clock: a.cfg.Clock(),
		PeriodStart: start.UTC(), PeriodEnd: end.UTC(), Targets: agentwire.Summarise(rs)}
	body, err := json.Marshal(sm)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("summary-%020d%s", start.UnixNano(), suffixSummary)
	if err := a.spool.putNamed(name, body, agentwire.SignResult(a.key, body)); err != nil {
		a.log.Error("summary not spooled: the spool is full or unwritable", "start", start, "err", err)
		return err
	}
	return a.Flush(ctx)
}
