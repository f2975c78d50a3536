package api

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter keeps one token bucket per key (a token's ID, or a client address before authentication).
// Buckets idle for a while are dropped, so a stream of made-up addresses cannot grow the map for ever.
type limiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// idleAfter is how long an unused bucket is kept; by then it is full again anyway.
const idleAfter = 10 * time.Minute

func newLimiter(perSecond float64) *limiter {
	if perSecond < 0 {
		return &limiter{every: rate.Inf}
	}
	return &limiter{every: rate.Limit(perSecond), burst: int(math.Ceil(2 * perSecond)),
		buckets: map[string]*bucket{}}
}

// allow takes one request from key's bucket; when it is empty it says how long until it is not.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l.every == rate.Inf {
		return true, 0
	}
	// The limiter runs on the wall clock even when the API's clock is pinned (tests): buckets refill in
	// real time.
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > idleAfter {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > idleAfter {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.every, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
