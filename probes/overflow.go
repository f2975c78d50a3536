package probes

import (
	"encoding/binary"
	"fmt"
	"sort"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A reply the kernel dropped because our socket's receive buffer was full looks exactly like loss to a
// prober that only counts replies. An auditor would read it as loss that never happened on the network.
// So the shared ICMP socket is sized for the sweep (rcvbufFor), the kernel's own drop counter is read
// (SO_RXQ_OVFL with every packet, SO_MEMINFO at the end), and an echo that timed out while the socket was
// dropping is reported as FailOverflow, a measurement error that Stats leaves out of the loss share.

// Receive buffer bounds. replyTruesize is what one queued reply costs against the buffer: skb truesize,
// about 1 KiB for a small ICMP packet on loopback and up to a page plus the sk_buff on NICs that receive
// into page fragments; taking the larger costs nothing, since the buffer is a limit, not an allocation.
const (
	replyTruesize = 4096
	minRcvbuf     = 256 << 10
	maxRcvbuf     = 128 << 20
)

// rcvbufFor is the receive buffer (in truesize bytes) for the sweep's ICMP jobs: room for every reply
// that can be outstanding at once, i.e. the most echoes sent within one timeout, should the engine be
// kept off the CPU for the whole of it. jobs are sorted by send time.
func rcvbufFor(jobs []job, timeout time.Duration) int {
	most, lo := 0, 0
	for hi := range jobs {
		for jobs[hi].at-jobs[lo].at > timeout {
			lo++
		}
		most = max(most, hi-lo+1)
	}
	return min(max(most*replyTruesize, minRcvbuf), maxRcvbuf)
}

// setICMPFilter makes the kernel pass only echo replies, destination unreachable and time exceeded to a
// raw ICMP socket (ICMP_FILTER, ICMPV6_FILTER: a set bit blocks that type).
func setICMPFilter(fd int, v6 bool) error {
	if !v6 {
		pass := uint32(1<<icmp4EchoReply | 1<<icmp4Unreachable | 1<<icmp4TimeExceeded)
		return unix.SetsockoptInt(fd, unix.SOL_RAW, unix.ICMP_FILTER, int(int32(^pass)))
	}
	const icmpv6Filter = 1 // ICMPV6_FILTER in linux/icmpv6.h
	var f [8]uint32
	for i := range f {
		f[i] = ^uint32(0)
	}
	for _, t := range []uint8{icmp6EchoReply, icmp6Unreachable, icmp6TimeExceeded} {
		f[t>>5] &^= 1 << (t & 31)
	}
	b := make([]byte, 32)
	for i, w := range f {
		binary.NativeEndian.PutUint32(b[4*i:], w)
	}
	return unix.SetsockoptString(fd, unix.IPPROTO_ICMPV6, icmpv6Filter, string(b))
}

// socketDrops reads the socket's drop counter now (SO_MEMINFO, Linux 4.6+).
func socketDrops(fd int) (uint32, error) {
	var mi [unix.SK_MEMINFO_VARS]uint32
	l := uint32(unsafe.Sizeof(mi))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&mi)), uintptr(unsafe.Pointer(&l)), 0)
	if errno != 0 {
		return 0, errno
	}
	if l < (unix.SK_MEMINFO_DROPS+1)*4 {
		return 0, fmt.Errorf("SO_MEMINFO: %d bytes, no drop counter", l)
	}
	return mi[unix.SK_MEMINFO_DROPS], nil
}

// overflowLog keeps when a socket dropped packets, as monotonic windows each holding at least one drop.
// The kernel tells the count, not the time: a count that grew between two readings puts the drops
// between them.
type overflowLog struct {
	drops   uint32    // the socket's drop count as last seen
	since   time.Time // the count was already drops at this time: the lower bound of the next window
	total   uint64
	windows []window
}

type window struct{ from, to time.Time }

func (o *overflowLog) start(at time.Time) { o.since = at }

// saw records that the drop count was c by time at. exact says at is when the count was read (a
// packet's kernel enqueue time, a getsockopt); otherwise at is only an upper bound and does not move the
// next window's lower bound.
func (o *overflowLog) saw(c uint32, at time.Time, exact bool) {
	// Packets queued before a getsockopt carry older (smaller) counts; the counter wraps at 2^32.
	if d := int32(c - o.drops); d > 0 {
		o.total += uint64(d)
		o.drops = c
		if n := len(o.windows); n > 0 && !o.since.After(o.windows[n-1].to) {
			o.windows[n-1].to = maxTime(o.windows[n-1].to, at)
		} else {
			o.windows = append(o.windows, window{o.since, at})
		}
	}
	if exact && at.After(o.since) {
		o.since = at
	}
}

// overlaps reports whether a drop may have happened in (from, to].
func (o *overflowLog) overlaps(from, to time.Time) bool {
	i := sort.Search(len(o.windows), func(i int) bool { return o.windows[i].to.After(from) })
	return i < len(o.windows) && o.windows[i].from.Before(to)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// markOverflow turns every echo that timed out while its socket was dropping packets into FailOverflow,
// and says so in its result's Err. It reads each socket's final drop count first.
func markOverflow(cfg *Config, jobs []job, socks [2]*icmpSocket) {
	for _, s := range socks {
		if s == nil {
			continue
		}
		c, err := socketDrops(s.fd)
		if err != nil {
			cfg.Logger.Debug("ICMP drop counter", "err", err)
			continue
		}
		s.ovfl.saw(c, time.Now(), true)
	}
	if (socks[0] == nil || socks[0].ovfl.total == 0) && (socks[1] == nil || socks[1].ovfl.total == 0) {
		return
	}
	marked := map[*Result]int{}
	for _, j := range jobs {
		smp := &j.res.Samples[j.sample]
		if smp.Received || smp.Failure != FailTimeout || smp.SentAt.IsZero() {
			continue
		}
		s := socks[0]
		if j.res.Address.Is6() {
			s = socks[1]
		}
		if s.ovfl.overlaps(smp.SentAt, smp.SentAt.Add(cfg.Timeout)) {
			smp.Failure = FailOverflow
			marked[j.res]++
		}
	}
	for r, n := range marked {
		s := socks[0]
		if r.Address.Is6() {
			s = socks[1]
		}
		msg := fmt.Sprintf("%d of %d echoes unjudged: the ICMP socket's receive buffer (%d bytes) was full while their replies were due and the kernel dropped %d packets in this sweep; a measurement error, not loss",
			n, len(r.Samples), s.rcvbuf, s.ovfl.total)
		if r.Err == "" {
			r.Err = msg
		} else {
			r.Err += "; " + msg
		}
	}
	for fam, s := range socks {
		if s != nil && s.ovfl.total > 0 {
			cfg.Logger.Warn("ICMP receive buffer overflowed: echoes reported as measurement errors, not loss",
				"ipv6", fam == 1, "dropped", s.ovfl.total, "rcvbuf", s.rcvbuf, "echoes", countMarked(marked, fam == 1))
		}
	}
}

func countMarked(m map[*Result]int, v6 bool) int {
	n := 0
	for r, k := range m {
		if r.Address.Is6() == v6 {
			n += k
		}
	}
	return n
}
