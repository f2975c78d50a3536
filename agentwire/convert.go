package agentwire

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/varde/varde/probes"
)

// ProbeResults turns a result into probe results under vantage (the task's, not the agent's word),
// refusing measurements of targets the task did not ask for. Statistics are recomputed from the samples.
func ProbeResults(vantage string, spec Spec, wr Result) ([]probes.Result, error) {
	asked := map[string]bool{}
	for _, t := range spec.Targets {
		asked[t.Name] = true
	}
	out := make([]probes.Result, 0, len(wr.Measurements))
	for i, m := range wr.Measurements {
		if !asked[m.Target] {
			return nil, fmt.Errorf("measurement %d: target %q was not asked for", i, m.Target)
		}
		k := probes.Kind(m.Kind)
		if k != probes.KindICMP && k != probes.KindTCP {
			return nil, fmt.Errorf("measurement %d (%s): kind %q: want icmp or tcp", i, m.Target, m.Kind)
		}
		r := probes.Result{Vantage: vantage, Target: m.Target, Kind: k, Port: m.Port, Started: m.Started,
			Failure: probes.Failure(m.Failure), Err: m.Err}
		if m.Address != "" {
			ad, err := netip.ParseAddr(m.Address)
			if err != nil {
				return nil, fmt.Errorf("measurement %d (%s): address: %w", i, m.Target, err)
			}
			r.Address = ad
		}
		r.Samples = make([]probes.Sample, len(m.Samples))
		for j, x := range m.Samples {
			if x.RTT < 0 || x.KernelRTT < 0 {
				return nil, fmt.Errorf("measurement %d (%s) sample %d: negative RTT", i, m.Target, x.Seq)
			}
			r.Samples[j] = probes.Sample{Seq: x.Seq, SentAt: time.Unix(0, x.SentAt).UTC(), RTT: time.Duration(x.RTT),
				RTTSource: probes.RTTSource(x.Source), Received: x.Received, Duplicates: x.Dups, Failure: probes.Failure(x.Failure),
				WallRTT: time.Duration(x.WallRTT), KernelRTT: time.Duration(x.KernelRTT), SYNRetransmitted: x.SYNRetx}
		}
		r.Stats = probes.ComputeStats(r.Samples)
		out = append(out, r)
	}
	return out, nil
}

// WireMeasurements is the agent's side of ProbeResults.
func WireMeasurements(rs []probes.Result) []Measurement {
	out := make([]Measurement, 0, len(rs))
	for _, r := range rs {
		m := Measurement{Target: r.Target, Kind: string(r.Kind), Port: r.Port, Started: r.Started,
			Failure: string(r.Failure), Err: r.Err, Samples: make(Samples, len(r.Samples))}
		if r.Address.IsValid() {
			m.Address = r.Address.String()
		}
		for j, x := range r.Samples {
			m.Samples[j] = Sample{Seq: x.Seq, SentAt: x.SentAt.UnixNano(), RTT: int64(x.RTT), KernelRTT: int64(x.KernelRTT),
				WallRTT: int64(x.WallRTT), Received: x.Received, Dups: x.Duplicates, Source: string(x.RTTSource),
				SYNRetx: x.SYNRetransmitted, Failure: string(x.Failure)}
		}
		out = append(out, m)
	}
	return out
}
