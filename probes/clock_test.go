package probes

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// TestICMPReplyClockStep: the kernel's receive stamp (SO_TIMESTAMPNS) is wall clock, the send time
// monotonic. When the wall clock steps between send and receive (NTP, an operator), the stamp no longer
// lies between the monotonic send time and the user-space receive time, and the RTT must come from the
// monotonic clock alone, marked wall, rather than be off by the step. The real clock is not stepped: the
// machine is shared, and CLOCK_REALTIME has no namespace; the stamp is built as a stepped clock gives it.
func TestICMPReplyClockStep(t *testing.T) {
	t.Parallel()
	addr := netip.MustParseAddr("192.0.2.1")
	for _, tc := range []struct {
		name    string
		step    time.Duration
		wantRTT time.Duration
		wantSrc RTTSource
	}{
		{"no step", 0, 2 * time.Millisecond, RTTKernel},
		{"step back 1h", -time.Hour, 3 * time.Millisecond, RTTWall},
		{"step forward 1h", time.Hour, 3 * time.Millisecond, RTTWall},
		{"step back 2ms", -2 * time.Millisecond, 3 * time.Millisecond, RTTWall}, // the stamp lands at the send time
		{"step forward 1.5ms", 1500 * time.Microsecond, 3 * time.Millisecond, RTTWall},
	} {
		res := &Result{Kind: KindICMP, Samples: []Sample{{Failure: FailTimeout}}}
		e := &icmpSweep{cfg: &Config{Timeout: time.Second}, done: new(atomic.Int64),
			pending: map[uint16]*pendingEcho{}, settled: make(chan struct{}, 1)}
		sent := time.Now()
		e.pending[7] = &pendingEcho{res: res, addr: addr, sent: sent, deadline: sent.Add(time.Second)}
		e.outstanding = 1
		user := sent.Add(3 * time.Millisecond)                    // monotonic, as time.Now after recvmsg
		kernel := sent.Round(0).Add(2*time.Millisecond + tc.step) // wall clock only, as the kernel stamps
		e.reply(7, addr, kernel, user)
		s := res.Samples[0]
		if !s.Received || s.RTT != tc.wantRTT || s.RTTSource != tc.wantSrc || s.Failure != FailNone {
			t.Errorf("%s: received %v, RTT %v from %q, failure %q; want %v from %q",
				tc.name, s.Received, s.RTT, s.RTTSource, s.Failure, tc.wantRTT, tc.wantSrc)
		}
		// A duplicate after the step is counted, not timed again.
		e.reply(7, addr, kernel, user.Add(time.Millisecond))
		if got := res.Samples[0]; got.Duplicates != 1 || got.RTT != tc.wantRTT {
			t.Errorf("%s: duplicate changed the sample: %+v", tc.name, got)
		}
	}
}
