package probes

import (
	"context"
	"fmt"
	"time"
)

// Round is one sweep of a continuous watch.
type Round struct {
	// N counts rounds from 0; a round that could not start on time is skipped and its number not used.
	N int
	// At is when the round was due; the schedule is At = start + N × every, so rounds do not drift.
	At time.Time
	// Skipped counts the rounds skipped just before this one: the previous rounds were still in flight
	// (fn is slower than every, or the machine is overloaded) and at most MaxRoundsInFlight may be.
	Skipped int
	Results []Result
}

// MaxRoundsInFlight bounds a watch's overlapping rounds: a round lasts its samples' spread plus the
// timeout, which may be longer than every, so a few rounds may be under way at once, each with its own
// sockets and samples. It is also what bounds a watch's memory.
const MaxRoundsInFlight = 8

// Watch probes targets continuously, for agents: a Sweep with cfg every `every` (cfg.Interval defaults to
// every, so a round's samples are spread over at most one round), until ctx ends, handing
// each finished round to fn in round order (fn runs on Watch's goroutine). Memory stays constant however
// long it runs: a round's results are the caller's once fn has them, and nothing else accumulates, so
// rounds in flight (at most MaxRoundsInFlight) are all it holds. Once ctx has ended no round is handed
// on. Watch returns ctx's error, or the first error a round returns for another reason.
func Watch(ctx context.Context, cfg Config, targets []Target, every time.Duration, fn func(Round)) error {
	if every <= 0 {
		return fmt.Errorf("watch every %v: must be positive", every)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := CheckSize(cfg, len(targets)); err != nil {
		return err
	}
	if cfg.Interval == 0 {
		// A round's first samples are spread over at most one interval: make that one round.
		cfg.Interval = every
	}
	probe := cfg
	probe.setDefaults()
	// A round lasts its samples' spread (Sweep staggers targets by at most maxStagger) and the timeout.
	span := time.Duration(max(probe.Count, probe.TCPCount)-1)*probe.Interval + min(probe.Interval, time.Duration(len(targets))*maxStagger) + probe.Timeout
	if depth := int(span/every) + 1; depth > MaxRoundsInFlight {
		return fmt.Errorf("watch every %v: rounds take up to %v (count %d, interval %v, timeout %v), %d would be in flight at once, at most %d",
			every, span, probe.Count, probe.Interval, probe.Timeout, depth, MaxRoundsInFlight)
	}

	type outcome struct {
		round Round
		err   error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// queue holds the rounds in flight in round order; its capacity is what bounds them.
	queue := make(chan chan outcome, MaxRoundsInFlight)
	go func() {
		defer close(queue)
		start := time.Now()
		skipped := 0
		for n := 0; ; n++ {
			at := start.Add(time.Duration(n) * every)
			if late := time.Since(at); late >= every {
				// Behind schedule by whole rounds: skip to the current slot rather than run a burst.
				k := int(late / every)
				n, skipped = n+k, skipped+k
				at = start.Add(time.Duration(n) * every)
			}
			if !sleepUntil(ctx, at) {
				return
			}
			out := make(chan outcome, 1)
			select {
			case queue <- out:
			case <-ctx.Done():
				return
			}
			r := Round{N: n, At: at, Skipped: skipped}
			skipped = 0
			go func() {
				rs, err := Sweep(ctx, cfg, targets)
				r.Results = rs
				out <- outcome{r, err}
			}()
		}
	}()
	for out := range queue {
		o := <-out
		if o.err != nil {
			if ctx.Err() == nil {
				cancel()
				for out := range queue { // let the rounds in flight end
					<-out
				}
				return fmt.Errorf("watch round %d: %w", o.round.N, o.err)
			}
			continue // ctx ended: rounds in flight end unfinished and are not handed on
		}
		if ctx.Err() != nil {
			continue // nor is one that finished after ctx ended: fn is not called once ctx has ended
		}
		fn(o.round)
	}
	return ctx.Err()
}
