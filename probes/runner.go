package probes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// ICMPEngine chooses how ICMP echoes are sent and timed.
type ICMPEngine string

const (
	// ICMPShared is the default: one socket per address family for the whole sweep, kernel receive
	// timestamps, per-packet timeouts (see the package doc for why).
	ICMPShared ICMPEngine = "shared"
	// ICMPProBing uses one pro-bing Pinger per target; kept as a cross-check.
	ICMPProBing ICMPEngine = "pro-bing"
)

// Config configures a sweep. Zero values get the defaults noted; Validate reports what is wrong.
type Config struct {
	// Vantage names where the measurement is taken from; it is copied into every Result.
	Vantage string
	// ICMP and TCP select the probe kinds; at least one must be set.
	ICMP, TCP bool
	// TCPPort is the port for targets that do not carry their own (host:port).
	TCPPort uint16
	// Count is the number of echoes or handshakes per target and kind; it must be at least 1.
	Count int
	// TCPCount, when not zero, is the number of handshakes per target instead of Count (a sweep of
	// 5 echoes and 3 handshakes). Negative is an error.
	TCPCount int
	// Interval is the time between samples to the same target (default 1s). Negative is an error.
	Interval time.Duration
	// Timeout is how long one sample waits for its reply (default 1s). Negative is an error.
	Timeout time.Duration
	// ResolveTimeout bounds DNS resolution of one name (default 5s).
	ResolveTimeout time.Duration
	// MaxSockets bounds concurrent TCP connects and pro-bing Pingers, and so sockets and goroutines
	// (default 512). The shared ICMP engine uses one socket per address family whatever the sweep size.
	MaxSockets int
	// ICMPEngine selects the ICMP path (default ICMPShared).
	ICMPEngine ICMPEngine
	// ICMPReceiveBuffer is the shared ICMP socket's receive buffer in bytes (default: room for every
	// reply that can be outstanding at once, see rcvbufFor). Replies the kernel drops for want of room
	// are reported as FailOverflow, a measurement error, never as loss.
	ICMPReceiveBuffer int
	// Resolver resolves names (default net.DefaultResolver).
	Resolver *net.Resolver
	// Logger receives debug messages (default: discard).
	Logger *slog.Logger
	// Progress, when set, is called from one goroutine about ten times a second with samples finished
	// so far and the total.
	Progress func(done, total int)
}

func (c *Config) setDefaults() {
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = time.Second
	}
	if c.ResolveTimeout == 0 {
		c.ResolveTimeout = 5 * time.Second
	}
	if c.MaxSockets == 0 {
		c.MaxSockets = 512
	}
	if c.ICMPEngine == "" {
		c.ICMPEngine = ICMPShared
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first invalid setting, naming it and its value.
func (c *Config) Validate() error {
	switch {
	case !c.ICMP && !c.TCP:
		return errors.New("no probe kind selected (ICMP or TCP)")
	case c.Count < 1:
		return fmt.Errorf("count %d: must be at least 1", c.Count)
	case c.TCPCount < 0:
		return fmt.Errorf("TCP count %d: must not be negative", c.TCPCount)
	case c.Interval < 0:
		return fmt.Errorf("interval %v: must not be negative", c.Interval)
	case c.Timeout < 0:
		return fmt.Errorf("timeout %v: must not be negative", c.Timeout)
	case c.ResolveTimeout < 0:
		return fmt.Errorf("resolve timeout %v: must not be negative", c.ResolveTimeout)
	case c.ICMPReceiveBuffer < 0:
		return fmt.Errorf("ICMP receive buffer %d: must not be negative", c.ICMPReceiveBuffer)
	case c.MaxSockets < 0:
		return fmt.Errorf("max sockets %d: must not be negative", c.MaxSockets)
	case c.ICMPEngine != "" && c.ICMPEngine != ICMPShared && c.ICMPEngine != ICMPProBing:
		return fmt.Errorf("ICMP engine %q: want %q or %q", c.ICMPEngine, ICMPShared, ICMPProBing)
	}
	return nil
}

// SetCounts selects the kinds of a sweep of icmp echoes and tcp handshakes per target, either of which
// may be zero, and sets Count and TCPCount to match. It reports false when both are zero.
func (c *Config) SetCounts(icmp, tcp int) bool {
	c.ICMP, c.TCP = icmp > 0, tcp > 0
	c.Count, c.TCPCount = icmp, tcp
	if !c.ICMP {
		c.Count = tcp
	}
	return c.ICMP || c.TCP
}

// countOf is the number of samples per target of kind k.
func (c *Config) countOf(k Kind) int {
	if k == KindTCP && c.TCPCount != 0 {
		return c.TCPCount
	}
	return c.Count
}

// maxStagger caps the gap between the first samples of consecutive targets: targets are spread over the
// interval so that sends do not come in one burst, but small sweeps do not wait needlessly.
const maxStagger = time.Millisecond

// job is one scheduled sample.
type job struct {
	at     time.Duration // offset from the sweep start
	res    *Result
	sample int
}

// Sweep probes every target with every selected kind concurrently and returns one Result per target and
// kind, in target order (ICMP before TCP). A target whose name does not resolve gets failed results with
// FailDNS; only invalid configuration, a TCP target without a port, or ctx cancellation return an error.
func Sweep(ctx context.Context, cfg Config, targets []Target) ([]Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := CheckSize(cfg, len(targets)); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if cfg.TCP {
		for _, t := range targets {
			if t.Port == 0 && cfg.TCPPort == 0 {
				return nil, fmt.Errorf("target %q: TCP probe needs a port (host:port or a default port)", t.Raw)
			}
		}
	}
	sweepStart := time.Now()
	addrs, errs := resolveAll(ctx, &cfg, targets)
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	kinds := []Kind{}
	if cfg.ICMP {
		kinds = append(kinds, KindICMP)
	}
	if cfg.TCP {
		kinds = append(kinds, KindTCP)
	}
	results := make([]Result, 0, len(targets)*len(kinds))
	targetIndex := make([]int, 0, cap(results))
	for i, t := range targets {
		for _, k := range kinds {
			r := Result{Vantage: cfg.Vantage, Target: t.Raw, Address: addrs[i], Kind: k, Started: sweepStart}
			if k == KindTCP {
				r.Port = cfg.TCPPort
				if t.Port != 0 {
					r.Port = t.Port
				}
			}
			if errs[i] != nil {
				r.Failure, r.Err = FailDNS, errs[i].Error()
			} else {
				r.Samples = make([]Sample, cfg.countOf(k))
				for s := range r.Samples {
					r.Samples[s] = Sample{Seq: s, Failure: FailTimeout}
				}
			}
			results = append(results, r)
			targetIndex = append(targetIndex, i)
		}
	}

	// One timeline for the whole sweep: target i's sample k goes at k*Interval + i*stagger.
	n := len(targets)
	stagger := time.Duration(0)
	if n > 0 {
		stagger = min(cfg.Interval/time.Duration(n), maxStagger)
	}
	var icmpJobs, tcpJobs []job
	total := 0
	for ri := range results {
		r := &results[ri]
		ti := targetIndex[ri]
		if r.Failure == FailDNS {
			continue
		}
		for s := range r.Samples {
			j := job{at: time.Duration(s)*cfg.Interval + time.Duration(ti)*stagger, res: r, sample: s}
			total++
			if r.Kind == KindICMP {
				icmpJobs = append(icmpJobs, j)
			} else {
				// TCP half a stagger later so the two kinds do not share a send instant.
				j.at += stagger / 2
				tcpJobs = append(tcpJobs, j)
			}
		}
	}
	sort.SliceStable(icmpJobs, func(a, b int) bool { return icmpJobs[a].at < icmpJobs[b].at })
	sort.SliceStable(tcpJobs, func(a, b int) bool { return tcpJobs[a].at < tcpJobs[b].at })

	var done atomic.Int64
	stopProgress := startProgress(cfg.Progress, &done, total)
	defer stopProgress()

	start := time.Now().Add(time.Millisecond)
	var wg sync.WaitGroup
	var icmpErr, tcpErr error
	if len(icmpJobs) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cfg.ICMPEngine == ICMPProBing {
				icmpErr = runProBing(ctx, &cfg, results, &done)
			} else {
				icmpErr = runICMPShared(ctx, &cfg, start, icmpJobs, &done)
			}
		}()
	}
	if len(tcpJobs) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tcpErr = runTCP(ctx, &cfg, start, tcpJobs, &done)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for ri := range results {
		r := &results[ri]
		if r.Kind == KindICMP && icmpErr != nil && r.Failure == FailNone {
			// The ICMP socket could not be opened: nothing was sent, every ICMP result failed the same way.
			r.Failure, r.Err, r.Samples = FailError, icmpErr.Error(), nil
		}
		if r.Kind == KindTCP && tcpErr != nil && r.Failure == FailNone && r.Err == "" {
			// The engine itself failed (epoll, timerfd): samples not yet settled stay timeouts; say why.
			r.Err = tcpErr.Error()
		}
		finish(r)
	}
	return results, nil
}

// finish computes stats and the whole-result failure: the most common sample failure when nothing came back.
func finish(r *Result) {
	r.Stats = ComputeStats(r.Samples)
	// Started is when the first sample went out; results that sent nothing keep the sweep's start.
	if len(r.Samples) > 0 && !r.Samples[0].SentAt.IsZero() {
		r.Started = r.Samples[0].SentAt
	}
	if r.Failure != FailNone || r.Stats.Received > 0 {
		return
	}
	counts := map[Failure]int{}
	for _, s := range r.Samples {
		counts[s.Failure]++
	}
	best := FailTimeout
	for _, f := range []Failure{FailTimeout, FailRefused, FailUnreachable, FailError, FailOverflow} {
		if counts[f] > counts[best] {
			best = f
		}
	}
	r.Failure = best
	if r.Err == "" {
		r.Err = fmt.Sprintf("all %d %s probes to %s failed (%s)", r.Stats.Sent, r.Kind, r.Address, best)
	}
}

func startProgress(fn func(done, total int), done *atomic.Int64, total int) (stop func()) {
	if fn == nil {
		return func() {}
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				fn(int(done.Load()), total)
				return
			case <-t.C:
				fn(int(done.Load()), total)
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// resolveAll resolves every target concurrently (at most 64 lookups at once).
func resolveAll(ctx context.Context, cfg *Config, targets []Target) ([]netip.Addr, []error) {
	addrs := make([]netip.Addr, len(targets))
	errs := make([]error, len(targets))
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i, t := range targets {
		if a, err := netip.ParseAddr(t.Host); err == nil {
			addrs[i] = a.Unmap()
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			rctx, cancel := context.WithTimeout(ctx, cfg.ResolveTimeout)
			defer cancel()
			as, err := cfg.Resolver.LookupNetIP(rctx, "ip", t.Host)
			if err == nil && len(as) == 0 {
				err = fmt.Errorf("lookup %s: no addresses", t.Host)
			}
			if err != nil {
				errs[i] = err
				cfg.Logger.Debug("resolve failed", "target", t.Raw, "err", err)
				return
			}
			addrs[i] = as[0].Unmap()
		}()
	}
	wg.Wait()
	return addrs, errs
}

// sleepUntil waits until t or ctx is done; it reports false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}
