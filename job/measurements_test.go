package job

import (
	"testing"
	"time"

	"github.com/varde/varde/probes"
)

// A sample the probe could not judge (the socket buffer overflowed) stays a measurement error through
// storage: the statistics recomputed from the stored samples count it in Errors, never as loss.
func TestStoredSamplesKeepMeasurementErrors(t *testing.T) {
	t.Parallel()
	t0 := clock()
	samples := []probes.Sample{
		{Seq: 0, SentAt: t0, Received: true, RTT: 2 * time.Millisecond},
		{Seq: 1, SentAt: t0.Add(time.Second), Failure: probes.FailOverflow},
		{Seq: 2, SentAt: t0.Add(2 * time.Second), Failure: probes.FailTimeout},
		{Seq: 3, SentAt: t0.Add(3 * time.Second), Received: true, RTT: 3 * time.Millisecond},
	}
	r := probes.Result{Vantage: "oslo-nix-1", Target: "t", Kind: probes.KindICMP, Started: t0, Samples: samples,
		Stats: probes.ComputeStats(samples)}
	if r.Stats.Errors != 1 || r.Stats.LossPct < 33 || r.Stats.LossPct > 34 {
		t.Fatalf("probe stats: %+v", r.Stats)
	}
	ms, err := MeasurementRecords([]probes.Result{r}, t0)
	if err != nil {
		t.Fatal(err)
	}
	got := StatsOf(ms[0])
	if got.Errors != r.Stats.Errors || got.LossPct != r.Stats.LossPct || got.Received != 2 {
		t.Errorf("recomputed from storage: %+v, want %+v", got, r.Stats)
	}
}
