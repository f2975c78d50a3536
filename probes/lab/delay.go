//go:build linux

package lab

import (
	"container/heap"
	"errors"
	"log/slog"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// clockBase anchors nanotime: time.Since on a time.Time with a monotonic reading uses the vDSO
// monotonic clock, cheaper than a clock_gettime syscall through x/sys.
var clockBase = time.Now()

func nanotime() int64 { return int64(time.Since(clockBase)) }

const (
	// spinBase is how long before a packet is due the delay line stops sleeping and spins.
	// ppoll with a 1 ns timer slack wakes within tens of microseconds here; Go timers only to ~1 ms,
	// which is why the line sleeps in ppoll on a locked thread rather than in time.Sleep.
	spinBase  = 200 * time.Microsecond
	maxPacket = 65536
	// rtPriority is the delay line's SCHED_FIFO priority: above every ordinary task, below the kernel's own
	// threaded interrupt handlers (50).
	rtPriority = 10
)

// packet is one IP packet waiting in a delay line.
type packet struct {
	due int64  // nanotime at which to write it out
	seq uint64 // arrival order: ties leave in FIFO order
	buf []byte
	dir int   // 0: towards the target, 1: back to the host
	rec int32 // index of its transit record, -1 when not recorded
}

type packetHeap []*packet

func (h packetHeap) Len() int { return len(h) }
func (h packetHeap) Less(i, j int) bool {
	if h[i].due != h[j].due {
		return h[i].due < h[j].due
	}
	return h[i].seq < h[j].seq
}
func (h packetHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *packetHeap) Push(x any)   { *h = append(*h, x.(*packet)) }
func (h *packetHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}

// protocol classes for the drop accumulators: each protocol gets its own error-diffusion state so that
// TCP handshakes to a target do not shift which echo requests are dropped, and vice versa.
const (
	classICMP = iota
	classTCP
	classOther
	numClasses
)

// dropScale is the fixed-point unit of the error-diffusion accumulators (parts per million): integer
// arithmetic makes 10% drop exactly every 10th packet, where float sums would drift by one.
const dropScale = 1_000_000

// direction counts what happened to packets going one way.
type direction struct {
	name                        string
	forwarded, dropped, foreign uint64
	late                        lateness
}

// line moves packets between the two TUNs after a per-address delay. It is one goroutine on a locked OS
// thread for both directions: it reads, timestamps, queues and writes, so no locks sit on the packet
// path. One thread for both ways also matters for timing: writing an echo request into the target TUN
// makes the target kernel answer within that write, and the loop reads the reply right after, instead of
// a second thread paying a wake-up (tens of microseconds on a VM) before it can timestamp the reply.
type line struct {
	host, target int // TUN file descriptors (non-blocking)
	stopFd       int // eventfd: readable once the lab closes
	stopped      atomic.Bool
	prefix       netip.Prefix // the lab block; addresses outside are not ours and are discarded
	prefix6      netip.Prefix // its IPv6 twin: the same host numbers in the low 32 bits
	index        []int32      // offset within prefix → target index, -1 when none
	delay        []int64      // per target one-way delay, ns
	dropPPM      []int64      // per target drop fraction in parts per million, towards the target
	acc          [][numClasses]int64
	dropSYNs     []int  // per target SYNs towards it still to drop
	dup          []bool // per target: deliver its echo replies twice
	logger       *slog.Logger
	dirs         [2]direction // 0: host → target, 1: target → host

	h    packetHeap
	seq  uint64
	free [][]byte
	rbuf []byte

	transits transitLog
}

// lateness records how late packets left the delay line relative to their due time.
type lateness struct {
	n                   uint64
	sum, max            int64
	over50us, over200us uint64
}

func (l *lateness) add(d int64) {
	l.n++
	l.sum += d
	if d > l.max {
		l.max = d
	}
	if d > 50_000 {
		l.over50us++
	}
	if d > 200_000 {
		l.over200us++
	}
}

// run is the line's loop; it returns when the lab closes. The goroutine keeps its OS thread locked and
// exits with it, so the thread's changed timer slack never leaks into the runtime's thread pool.
func (d *line) run(done chan<- struct{}) {
	defer close(done)
	runtime.LockOSThread()
	// A 1 ns timer slack makes ppoll's timeout precise instead of rounding up by 50 µs or more.
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	// The line stands in for a network, which does not wait for a CPU: under SCHED_FIFO a busy machine's
	// ordinary tasks (a compiler, stress-ng, other tests) cannot hold a packet in the TUN queue or past its
	// due time. Only the hypervisor (steal time) still can, and Exchanges shows what that cost. The kernel's
	// RT throttling keeps 5% of each second for everything else even if the line spins without pause.
	if err := unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: rtPriority}, 0); err != nil {
		d.logger.Info("lab: delay line runs without real-time priority; a busy machine will make it late", "err", err)
	}
	d.rbuf = make([]byte, maxPacket)
	fds := []unix.PollFd{
		{Fd: int32(d.host), Events: unix.POLLIN},
		{Fd: int32(d.target), Events: unix.POLLIN},
		{Fd: int32(d.stopFd), Events: unix.POLLIN},
	}
	for {
		d.readAll(d.host, 0)
		d.readAll(d.target, 1)
		if d.stopped.Load() {
			return
		}
		now := nanotime()
		if len(d.h) > 0 {
			wait := d.h[0].due - now
			if wait <= 0 {
				p := heap.Pop(&d.h).(*packet)
				d.write(p, now)
				continue
			}
			if wait <= int64(spinBase) {
				continue // spin: keep reading input so arrivals are still timestamped promptly
			}
		}
		var ts *unix.Timespec
		if len(d.h) > 0 {
			wait := d.h[0].due - now
			// ppoll's slack grows with the timeout (0.1%), so wake earlier for long waits.
			sleep := wait - int64(spinBase) - wait/1000
			t := unix.NsecToTimespec(max(sleep, 1000))
			ts = &t
		}
		fds[0].Revents, fds[1].Revents, fds[2].Revents = 0, 0, 0
		if _, err := unix.Ppoll(fds, ts, nil); err != nil && !errors.Is(err, unix.EINTR) {
			d.logger.Error("lab: ppoll failed", "err", err)
			return
		}
		if fds[2].Revents != 0 {
			return
		}
	}
}

func (d *line) readAll(fd, dir int) {
	for {
		n, err := unix.Read(fd, d.rbuf)
		if err != nil || n <= 0 {
			return // EAGAIN: drained; other errors surface as the device going away on close
		}
		d.accept(d.rbuf[:n], dir, nanotime())
	}
}

// accept classifies a packet read at time now going direction dir and queues it or drops it.
func (d *line) accept(b []byte, dir int, now int64) {
	st := &d.dirs[dir]
	ip, ok := parseIP(b)
	if !ok {
		st.foreign++ // not IP, or a later fragment
		return
	}
	addr, prefix := ip.dst, d.prefix // towards a target: keyed on the destination
	if dir == 1 {
		addr = ip.src // back from a target: keyed on the source
	}
	if ip.v6 {
		prefix = d.prefix6
	}
	if !prefix.Contains(addr) {
		st.foreign++ // IPv6 multicast listener reports and the like: not lab traffic
		return
	}
	off := offset(prefix, addr)
	if off < 0 || off >= len(d.index) {
		st.foreign++
		return
	}
	ti := d.index[off]
	if ti < 0 {
		st.foreign++
		return
	}
	if dir == 0 && d.dropPPM[ti] > 0 {
		class := classOther
		switch ip.proto {
		case unix.IPPROTO_ICMP, unix.IPPROTO_ICMPV6:
			class = classICMP
		case unix.IPPROTO_TCP:
			class = classTCP
		}
		acc := &d.acc[ti][class]
		*acc += d.dropPPM[ti]
		if *acc >= dropScale {
			*acc -= dropScale
			st.dropped++
			return
		}
	}
	kind, id, seq, port := classify(ip, dir)
	if kind == packetSYN && d.dropSYNs != nil && d.dropSYNs[ti] > 0 {
		d.dropSYNs[ti]--
		st.dropped++
		return
	}
	rec := int32(-1)
	if kind != packetOther {
		rec = d.transits.add(transit{kind: kind, v6: ip.v6, target: ti, id: id, seq: seq, port: port, arrived: now})
	}
	d.queue(b, dir, now+d.delay[ti], rec)
	if kind == packetEchoReply && d.dup != nil && d.dup[ti] {
		d.queue(b, dir, now+d.delay[ti], -1) // the copy, right behind: not recorded, Exchanges pairs one reply
	}
}

// ipPacket is what the delay line needs from an IPv4 or IPv6 header.
type ipPacket struct {
	v6       bool
	src, dst netip.Addr
	proto    uint8
	payload  []byte // the transport header and what follows
}

// parseIP reads an IPv4 header, or an IPv6 header without extension headers (the lab's own traffic
// carries none). A later IPv4 fragment is reported as not ok: it carries no transport header.
func parseIP(b []byte) (ipPacket, bool) {
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return ipPacket{}, false
		}
		if frag := uint16(b[6]&0x1f)<<8 | uint16(b[7]); frag != 0 {
			return ipPacket{}, false
		}
		return ipPacket{src: netip.AddrFrom4([4]byte(b[12:16])), dst: netip.AddrFrom4([4]byte(b[16:20])),
			proto: b[9], payload: b[ihl:]}, true
	case len(b) >= 40 && b[0]>>4 == 6:
		return ipPacket{v6: true, src: netip.AddrFrom16([16]byte(b[8:24])), dst: netip.AddrFrom16([16]byte(b[24:40])),
			proto: b[6], payload: b[40:]}, true
	}
	return ipPacket{}, false
}

// queue copies b into a pooled buffer and puts it on the heap, due at due.
func (d *line) queue(b []byte, dir int, due int64, rec int32) {
	var buf []byte
	if k := len(d.free); k > 0 {
		buf = d.free[k-1]
		d.free = d.free[:k-1]
	}
	buf = append(buf[:0], b...)
	d.seq++
	heap.Push(&d.h, &packet{due: due, seq: d.seq, buf: buf, dir: dir, rec: rec})
}

func (d *line) write(p *packet, now int64) {
	st := &d.dirs[p.dir]
	st.late.add(now - p.due)
	out := d.target
	if p.dir == 1 {
		out = d.host
	}
	// The release is recorded before the write: the receiver may act on the packet (a reply read, a
	// connect returning) before write returns, and whoever then asks for the record must find it.
	if p.rec >= 0 {
		d.transits.release(p.rec, now)
	}
	if _, err := unix.Write(out, p.buf); err != nil {
		d.logger.Debug("lab: write failed", "direction", st.name, "err", err)
		if p.rec >= 0 {
			d.transits.release(p.rec, 0)
		}
	} else {
		st.forwarded++
	}
	if cap(p.buf) <= 2048 {
		d.free = append(d.free, p.buf)
	}
}

// offset is addr's position inside prefix: the host number for IPv4, the low 32 bits for the IPv6 twin.
func offset(prefix netip.Prefix, addr netip.Addr) int {
	if addr.Is6() {
		a := addr.As16()
		return int(be32([4]byte(a[12:16])))
	}
	a, b := addr.As4(), prefix.Addr().As4()
	return int(be32(a) - be32(b))
}

func be32(a [4]byte) uint32 {
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}
