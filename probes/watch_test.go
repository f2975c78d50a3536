package probes

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestWatchValidates(t *testing.T) {
	t.Parallel()
	tg := []Target{mustTarget(t, "127.0.0.1")}
	for _, tc := range []struct {
		cfg   Config
		every time.Duration
		want  string
	}{
		{Config{ICMP: true, Count: 1}, 0, "watch every 0s"},
		{Config{ICMP: true, Count: 0}, time.Second, "count 0"},
		{Config{ICMP: true, Count: 1, Timeout: 10 * time.Second}, time.Second, "in flight at once"},
	} {
		err := Watch(context.Background(), tc.cfg, tg, tc.every, func(Round) { t.Error("a round ran") })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Watch(%+v, every %v) = %v, want %q", tc.cfg, tc.every, err, tc.want)
		}
	}
}

// TestWatchLoopback: rounds come in order, on the schedule, every sample handed on, and memory does not
// grow with the number of rounds (200 loopback targets, a round every 20 ms, rounds overlapping since each
// waits up to 50 ms for its replies).
func TestWatchLoopback(t *testing.T) {
	if !inFreshNetns(t) {
		return
	}
	targets := loopbackTargets(t, 200)
	targets = append(targets, mustTarget(t, "::1"))
	cfg := Config{ICMP: true, Count: 1, Timeout: 50 * time.Millisecond}
	const rounds, every = 60, 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []Round
	var heapAt10, heapAtEnd uint64
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	received, sent := 0, 0
	err := Watch(ctx, cfg, targets, every, func(r Round) {
		got = append(got, Round{N: r.N, At: r.At, Skipped: r.Skipped}) // keep no results: constant memory
		for _, res := range r.Results {
			sent += res.Stats.Sent
			received += res.Stats.Received
		}
		switch len(got) {
		case 10:
			heapAt10 = heap()
		case rounds:
			heapAtEnd = heap()
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch = %v, want context.Canceled", err)
	}
	if len(got) != rounds {
		t.Fatalf("%d rounds handed on, want %d", len(got), rounds)
	}
	skipped := 0
	for i, r := range got {
		skipped += r.Skipped
		if i > 0 && (r.N <= got[i-1].N || r.At.Sub(got[0].At) != time.Duration(r.N)*every) {
			t.Errorf("round %d (N %d) at %v: out of order or off the schedule", i, r.N, r.At.Sub(got[0].At))
		}
	}
	t.Logf("%d rounds (%d skipped), %d of %d echoes answered; heap in use %d KiB after 10 rounds, %d KiB after %d",
		len(got), skipped, received, sent, heapAt10>>10, heapAtEnd>>10, rounds)
	if sent != rounds*len(targets) || received != sent {
		t.Errorf("%d of %d echoes answered over %d rounds of %d targets", received, sent, rounds, len(targets))
	}
	if heapAtEnd > heapAt10+512<<10 {
		t.Errorf("heap grew from %d KiB to %d KiB over %d rounds", heapAt10>>10, heapAtEnd>>10, rounds-10)
	}
}
