package probes

import "fmt"

// Upper bounds on one sweep. Every sample is held in memory until the sweep ends (about 120 bytes with
// its schedule entry), so an unbounded count or target list would let one mistyped flag exhaust memory.
const (
	// MaxCount is samples per target and kind: a day of one sample a second.
	MaxCount = 86_400
	// MaxTargets is targets per sweep: ten times the largest sweep tested (10,000 loopback targets).
	MaxTargets = 100_000
	// MaxSamples is targets × samples per target (over the kinds) per sweep, about 250 MB of samples.
	MaxSamples = 2_000_000
)

// CheckSize reports a sweep of n targets that is over MaxCount, MaxTargets or MaxSamples, naming the
// bound. Sweep calls it; callers call it too to fail before resolving any name.
func CheckSize(c Config, n int) error {
	perTarget := 0
	if c.ICMP {
		perTarget += c.countOf(KindICMP)
	}
	if c.TCP {
		perTarget += c.countOf(KindTCP)
	}
	switch {
	case c.Count > MaxCount:
		return fmt.Errorf("count %d: over the limit of %d samples per target", c.Count, MaxCount)
	case c.TCPCount > MaxCount:
		return fmt.Errorf("TCP count %d: over the limit of %d samples per target", c.TCPCount, MaxCount)
	case n > MaxTargets:
		return fmt.Errorf("%d targets: over the limit of %d targets per sweep", n, MaxTargets)
	case n*perTarget > MaxSamples:
		return fmt.Errorf("%d targets × %d samples each = %d: over the limit of %d samples per sweep",
			n, perTarget, n*perTarget, MaxSamples)
	}
	return nil
}
