package probes

import (
	"testing"
	"time"
)

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

func TestComputeStatsHandComputed(t *testing.T) {
	t.Parallel()
	// RTTs 10, 12, lost, 11, 15 ms; one duplicate on seq 1.
	samples := []Sample{
		{Seq: 0, RTT: ms(10), Received: true},
		{Seq: 1, RTT: ms(12), Received: true, Duplicates: 1},
		{Seq: 2, Failure: FailTimeout},
		{Seq: 3, RTT: ms(11), Received: true},
		{Seq: 4, RTT: ms(15), Received: true},
	}
	got := ComputeStats(samples)
	// By hand: received 10,12,11,15. sum 48, mean 12. median (11+12)/2 = 11.5. p95 nearest rank
	// ceil(0.95*4)=4th = 15. sum of squares 100+144+121+225 = 590; 590/4 - 144 = 3.5; mdev sqrt(3.5) =
	// 1.870829 ms. jitter |12-10| + |11-12| + |15-11| = 7, / 3 = 2.333333 ms. loss 1/5 = 20%.
	want := Stats{Sent: 5, Received: 4, Duplicates: 1, LossPct: 20,
		Min: ms(10), Median: ms(11.5), Mean: ms(12), P95: ms(15), Max: ms(15),
		Mdev: 1870829, Jitter: 2333333}
	if got != want {
		t.Fatalf("ComputeStats:\n got %+v\nwant %+v", got, want)
	}
}

func TestComputeStatsOddAndP95(t *testing.T) {
	t.Parallel()
	var samples []Sample
	for i := 1; i <= 21; i++ { // 1..21 ms, sent in reverse order
		samples = append(samples, Sample{Seq: i, RTT: ms(float64(22 - i)), Received: true})
	}
	got := ComputeStats(samples)
	// median of 1..21 is 11; p95 rank ceil(19.95)=20 → 20 ms; jitter 1 ms; mdev sqrt((21²-1)/12)=6.0553 ms.
	if got.Median != ms(11) || got.P95 != ms(20) || got.Jitter != ms(1) || got.Mdev != 6055301 || got.LossPct != 0 {
		t.Fatalf("got %+v", got)
	}
}

func TestComputeStatsNothingReceived(t *testing.T) {
	t.Parallel()
	got := ComputeStats([]Sample{{Failure: FailTimeout}, {Failure: FailTimeout}})
	want := Stats{Sent: 2, LossPct: 100}
	if got != want {
		t.Fatalf("got %+v want %+v", got, want)
	}
	if got := ComputeStats(nil); got.LossPct != 100 || got.Sent != 0 {
		t.Fatalf("no samples: got %+v", got)
	}
}

// TestComputeStatsMeasurementErrorsAreNotLoss: a sample the prober could not judge (its socket dropped
// the reply, or the send failed locally) is counted as an error and left out of the loss share.
func TestComputeStatsMeasurementErrorsAreNotLoss(t *testing.T) {
	t.Parallel()
	got := ComputeStats([]Sample{
		{Seq: 0, RTT: ms(1), Received: true},
		{Seq: 1, Failure: FailOverflow},
		{Seq: 2, Failure: FailError},
		{Seq: 3, Failure: FailTimeout},
	})
	if got.Sent != 4 || got.Received != 1 || got.Errors != 2 || got.LossPct != 50 {
		t.Fatalf("got %+v, want 4 sent, 1 received, 2 errors, 50%% loss of the 2 judged", got)
	}
	got = ComputeStats([]Sample{{Failure: FailOverflow}, {Failure: FailOverflow}})
	if got.Errors != 2 || got.LossPct != 0 {
		t.Fatalf("all overflowed: got %+v, want 2 errors and no loss claimed", got)
	}
}
