package job

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/probes"
	"github.com/varde/varde/reports"
	"github.com/varde/varde/storage"
)

// RemoteVantages measures from vantages other than the local one, through the agents enrolled for them
// (package agentsrv implements it). Probe measures targets from one named vantage for one audit and
// appends the measurements to that audit's chain itself, with each agent's signature and provenance,
// before returning them. A vantage with no live agent by spec.Deadline gives an error wrapping
// ErrVantageUnavailable; no other vantage stands in for it.
type RemoteVantages interface {
	Probe(ctx context.Context, auditID int64, vantage string, spec RemoteSpec) ([]probes.Result, error)
}

// RemoteSpec is what one remote vantage measures.
type RemoteSpec struct {
	Targets   []probes.Target // Raw is the target's name in the audit
	ICMPCount int
	TCPCount  int
	Interval  time.Duration
	Timeout   time.Duration
	// Deadline: a vantage whose agents have not delivered by then is recorded as unavailable.
	Deadline time.Time
}

// ErrVantageUnavailable: no live agent of the vantage delivered by the deadline. The step's message
// starts with its text, vantage_unavailable, and the audit ends partial ("completed with gaps").
var ErrVantageUnavailable = errors.New("vantage_unavailable")

// stepRemotePrefix names the probe step of one remote vantage: "probes@bergen".
const stepRemotePrefix = "probes@"

// DefaultAgentDeadline is how long an audit waits for its remote vantages when the config does not say.
const DefaultAgentDeadline = 10 * time.Minute

// remoteVantages are the configured vantages measured by agents, in config order.
func (c *Config) remoteVantages() []Vantage {
	var out []Vantage
	for _, v := range c.Vantages {
		if v.Agent {
			out = append(out, v)
		}
	}
	return out
}

// localIsRemote: the config's own vantage is measured by its agents, so this process measures nothing
// itself.
func (c *Config) localIsRemote() bool {
	for _, v := range c.remoteVantages() {
		if v.Name == c.Vantage {
			return true
		}
	}
	return false
}

// remoteProbes runs the probe step of every remote vantage at once, then records one step per vantage
// in config order. Their results join the local ones for the residency physics check, each under its
// own vantage.
func (r *runner) remoteProbes(ctx context.Context) {
	vs := r.cfg.remoteVantages()
	if len(vs) == 0 {
		return
	}
	if r.opts.Remote == nil {
		for _, v := range vs {
			r.step(ctx, stepRemotePrefix+v.Name, func(context.Context) (string, error) {
				return "", fmt.Errorf("%w: vantage %s is measured by agents, and this varde runs no agent server", ErrVantageUnavailable, v.Name)
			})
		}
		return
	}
	spec, err := r.remoteSpec()
	type outcome struct {
		rs  []probes.Result
		err error
	}
	outs := make([]chan outcome, len(vs))
	for i, v := range vs {
		outs[i] = make(chan outcome, 1)
		if err != nil {
			outs[i] <- outcome{err: err}
			continue
		}
		go func() {
			rs, err := r.opts.Remote.Probe(ctx, r.auditID, v.Name, spec)
			outs[i] <- outcome{rs, err}
		}()
	}
	for i, v := range vs {
		r.step(ctx, stepRemotePrefix+v.Name, func(ctx context.Context) (string, error) {
			var o outcome
			select {
			case o = <-outs[i]:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			if o.err != nil {
				return "", o.err
			}
			r.probeResults = append(r.probeResults, o.rs...)
			return fmt.Sprintf("%d measurements from %s by its agent, signed; ICMP %d echoes, TCP %d handshakes per target.",
				len(o.rs), v.Name, spec.ICMPCount, spec.TCPCount), nil
		})
	}
}

func (r *runner) remoteSpec() (RemoteSpec, error) {
	wait := time.Duration(r.cfg.Probes.AgentDeadline)
	if wait == 0 {
		wait = DefaultAgentDeadline
	}
	spec := RemoteSpec{TCPCount: r.cfg.Probes.TCPCount, Interval: time.Duration(r.cfg.Probes.Interval),
		Timeout: time.Duration(r.cfg.Probes.Timeout), Deadline: r.opts.Now().Add(wait)}
	if *r.cfg.Probes.ICMP {
		spec.ICMPCount = r.cfg.Probes.Count
	}
	for _, t := range r.cfg.Targets {
		if t.Host == "" {
			return spec, fmt.Errorf("target %s: a lab target (lab_rtt, no host) cannot be measured by remote agents", t.Name)
		}
		pt, err := probes.ParseTarget(net.JoinHostPort(t.Host, strconv.Itoa(r.port(t))))
		if err != nil {
			return spec, fmt.Errorf("target %s: %w", t.Name, err)
		}
		pt.Raw = t.Name
		spec.Targets = append(spec.Targets, pt)
	}
	return spec, nil
}

// measuredRTT is RTTTable over this audit's own results, each under the vantage that measured it: the
// local one, or a remote vantage described under vantages.
func measuredRTT(rs []probes.Result, local residency.Vantage, vs map[string]residency.Vantage) residency.RTTTable {
	t := RTTTable(nil, local)
	for _, r := range rs {
		v := local
		if rv, ok := vs[r.Vantage]; ok && r.Vantage != local.Name {
			v = rv
		}
		for _, o := range RTTTable([]probes.Result{r}, v) {
			for _, x := range o {
				t.Add(x)
			}
		}
	}
	return t
}

// otherVantagesSales gives the sales comparison each other vantage's view: one row per target and
// vantage that measured it, labelled with the vantage, after the audit's own vantage's rows.
func (sa *storedAudit) otherVantagesSales() ([]reports.SalesTarget, string) {
	type key struct{ vantage, target string }
	by := map[key][]storage.Measurement{}
	var order []string
	seen := map[string]bool{}
	for _, ms := range sa.ms {
		if ms.Vantage == sa.cfg.Vantage {
			continue
		}
		by[key{ms.Vantage, ms.Target}] = append(by[key{ms.Vantage, ms.Target}], ms)
		if !seen[ms.Vantage] {
			seen[ms.Vantage] = true
			order = append(order, ms.Vantage)
		}
	}
	if len(order) == 0 {
		return nil, ""
	}
	var out []reports.SalesTarget
	for _, v := range order {
		for _, t := range sa.cfg.Targets {
			mss := by[key{v, t.Name}]
			if len(mss) == 0 {
				continue
			}
			st := reports.SalesTarget{Label: t.Label + " (from " + v + ")", Host: t.Host}
			fillSales(&st, mss)
			out = append(out, st)
		}
	}
	return out, fmt.Sprintf("Rows marked \"(from V)\" were measured from vantage V by its remote agent (%s), each signed by that agent.",
		strings.Join(order, ", "))
}

// fillSales puts one target's measurements from one vantage into its sales row.
func fillSales(st *reports.SalesTarget, mss []storage.Measurement) {
	for _, ms := range mss {
		s := StatsOf(ms)
		if ms.Address != "" {
			st.Host = ms.Address
		}
		switch ms.ProbeKind {
		case "icmp":
			st.ICMPP50, st.ICMPP95, st.ICMPSamples = s.Median, s.P95, s.Received
		case "tcp":
			st.TCPP50, st.TCPP95, st.TCPSamples = s.Median, s.P95, s.Received
		}
	}
}
