package probes

import (
	"math"
	"net/netip"
	"slices"
	"time"
)

// Kind is the probe type.
type Kind string

const (
	KindICMP Kind = "icmp"
	KindTCP  Kind = "tcp"
)

// Failure is why a sample or a whole result failed. The empty Failure means success.
type Failure string

const (
	FailNone        Failure = ""
	FailTimeout     Failure = "timeout"
	FailRefused     Failure = "refused"
	FailUnreachable Failure = "unreachable"
	FailDNS         Failure = "dns"
	FailError       Failure = "error" // anything else (socket errors, permissions); see Result.Err
	// FailOverflow: the kernel dropped packets on the engine's own receive socket (its buffer was full)
	// while this sample's reply was due, so whether the network answered is unknown. A measurement error,
	// never counted as loss; Result.Err says how many packets the socket dropped.
	FailOverflow Failure = "overflow"
)

// MeasurementError reports whether f means the prober, not the network, failed: such a sample says
// nothing about loss and is left out of LossPct.
func (f Failure) MeasurementError() bool { return f == FailError || f == FailOverflow }

// Sample is one echo or one handshake.
type Sample struct {
	Seq    int
	SentAt time.Time // wall and monotonic time just before send/connect
	// RTT is zero unless Received. Statistics are computed from it; RTTSource says which clock gave it.
	RTT       time.Duration
	RTTSource RTTSource
	Received  bool
	// Duplicates counts extra replies for this sequence (ICMP).
	Duplicates int
	Failure    Failure
	// WallRTT is the monotonic wall time of connect(), from just before the call until the engine saw the
	// socket connected: what an application feels (TCP only, set for every completed handshake).
	WallRTT time.Duration
	// KernelRTT is tcpi_rtt read right after connect (TCP only); it is the RTT when RTTSource is kernel.
	KernelRTT time.Duration
	// SYNRetransmitted is set when tcpi_total_retrans > 0 right after connect (TCP only).
	SYNRetransmitted bool
}

// Result is one measurement: every sample from one vantage to one target address with one probe kind.
type Result struct {
	Vantage string
	Target  string // as written
	Address netip.Addr
	Kind    Kind
	Port    uint16 // TCP port, 0 for ICMP
	Started time.Time
	// Failure is set when nothing was received (for DNS failure, no sample was sent); Err gives detail.
	Failure Failure
	Err     string
	Samples []Sample
	Stats   Stats
}

// Stats summarises samples. Duration fields are zero when Received == 0.
type Stats struct {
	Sent, Received, Duplicates int
	// Errors counts samples that were not received because of a measurement error (FailError,
	// FailOverflow): their fate on the network is unknown, so they are not loss.
	Errors int
	// LossPct is the share of samples with a known fate (Sent - Errors) that got no reply; 100 when
	// nothing was sent, 0 when every sample was a measurement error (Result.Failure then says so).
	LossPct                     float64
	Min, Median, Mean, P95, Max time.Duration
	// Mdev is the population standard deviation, as iputils ping's mdev.
	Mdev time.Duration
	// Jitter is the mean absolute difference of consecutive received samples (in sequence order).
	Jitter time.Duration
}

// ComputeStats summarises samples in sequence order.
func ComputeStats(samples []Sample) Stats {
	var s Stats
	s.Sent = len(samples)
	rtts := make([]float64, 0, len(samples))
	for _, x := range samples {
		s.Duplicates += x.Duplicates
		if x.Received {
			rtts = append(rtts, float64(x.RTT))
		} else if x.Failure.MeasurementError() {
			s.Errors++
		}
	}
	s.Received = len(rtts)
	if s.Sent == 0 {
		s.LossPct = 100
		return s
	}
	if judged := s.Sent - s.Errors; judged > 0 {
		s.LossPct = 100 * float64(judged-s.Received) / float64(judged)
	}
	if len(rtts) == 0 {
		return s
	}
	var sum, sumsq, jit float64
	for i, r := range rtts {
		sum += r
		sumsq += r * r
		if i > 0 {
			jit += math.Abs(r - rtts[i-1])
		}
	}
	n := float64(len(rtts))
	mean := sum / n
	s.Mean = dur(mean)
	// iputils: mdev = sqrt(tsum2/n - (tsum/n)^2).
	v := sumsq/n - mean*mean
	if v < 0 {
		v = 0
	}
	s.Mdev = dur(math.Sqrt(v))
	if len(rtts) > 1 {
		s.Jitter = dur(jit / (n - 1))
	}
	sorted := slices.Clone(rtts)
	slices.Sort(sorted)
	s.Min, s.Max = dur(sorted[0]), dur(sorted[len(sorted)-1])
	m := len(sorted) / 2
	if len(sorted)%2 == 1 {
		s.Median = dur(sorted[m])
	} else {
		s.Median = dur((sorted[m-1] + sorted[m]) / 2)
	}
	// p95 by nearest rank: the smallest sample with at least 95% of samples at or below it.
	rank := int(math.Ceil(0.95 * n))
	s.P95 = dur(sorted[rank-1])
	return s
}

func dur(ns float64) time.Duration { return time.Duration(math.Round(ns)) }
