package probes

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	probing "github.com/prometheus-community/pro-bing"
	"golang.org/x/sys/unix"
)

// payloadLen matches ping's default 56 data bytes; the first 8 carry a per-sweep cookie so a raw socket
// ignores other programs' echoes that happen to use our identifier.
const payloadLen = 56

// icmpSocket is one ICMP socket for one address family, shared by every target of a sweep. It is a plain
// non-blocking descriptor in the engine's own epoll set (poller), which Go's netpoller watches in turn.
type icmpSocket struct {
	v6  bool
	raw bool // raw socket (root); otherwise an unprivileged ICMP datagram socket
	fd  int
	id  uint16 // identifier in our echoes; for datagram sockets the kernel replaces it by the local port
	to  rawSockaddr

	rcvbuf int // SO_RCVBUF as the kernel granted it (bytes of skb truesize)
	ovfl   overflowLog
}

// openICMP opens a raw ICMP socket when allowed, else an unprivileged datagram ICMP socket
// (net.ipv4.ping_group_range), with SO_TIMESTAMPNS and SO_RXQ_OVFL on and a receive buffer of rcvbuf
// bytes (see rcvbufFor).
func openICMP(v6 bool, id uint16, rcvbuf int) (*icmpSocket, error) {
	family, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if v6 {
		family, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	s := &icmpSocket{v6: v6, raw: true, id: id}
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		var err2 error
		fd, err2 = unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		if err2 != nil {
			return nil, fmt.Errorf("open ICMP socket: raw: %w; unprivileged datagram: %w (root or net.ipv4.ping_group_range needed)", err, err2)
		}
		s.raw = false
	}
	fail := func(what string, err error) (*icmpSocket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("ICMP socket: %s: %w", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fail("SO_TIMESTAMPNS", err)
	}
	// The kernel counts what it drops because the receive buffer is full; SO_RXQ_OVFL hands the count
	// to us with every packet queued after a drop, so a dropped reply is reported as a measurement error
	// instead of loss.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1); err != nil {
		return fail("SO_RXQ_OVFL", err)
	}
	// The kernel doubles the value for its bookkeeping and compares skb truesize against the double.
	// SO_RCVBUFFORCE passes net.core.rmem_max (root); otherwise SO_RCVBUF is capped there.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf/2); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf/2); err != nil {
			return fail("SO_RCVBUF", err)
		}
	}
	if got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
		s.rcvbuf = got
	}
	if s.raw {
		// A raw socket gets a copy of every ICMP message the host receives, our own echo requests
		// included when the target is local. Let the kernel keep only the types we read, so they do
		// not take room in the buffer (or CPU).
		if err := setICMPFilter(fd, v6); err != nil {
			return fail("ICMP filter", err)
		}
	}
	if !s.raw {
		var sa unix.Sockaddr = &unix.SockaddrInet4{}
		if v6 {
			sa = &unix.SockaddrInet6{}
		}
		if err := unix.Bind(fd, sa); err != nil {
			return fail("bind", err)
		}
		got, err := unix.Getsockname(fd)
		if err != nil {
			return fail("getsockname", err)
		}
		switch a := got.(type) {
		case *unix.SockaddrInet4:
			s.id = uint16(a.Port)
		case *unix.SockaddrInet6:
			s.id = uint16(a.Port)
		}
	}
	s.fd = fd
	return s, nil
}

func (s *icmpSocket) send(b []byte, to netip.Addr) error {
	s.to.set(to, 0)
	for range 3 {
		err := sendtoRaw(s.fd, b, &s.to)
		if err != unix.EAGAIN {
			return err
		}
		// The send buffer is full (a burst): wait briefly for room rather than count the echo lost.
		pfd := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLOUT}}
		_, _ = unix.Poll(pfd, 10)
	}
	return unix.EAGAIN
}

// icmpPayload is the ICMP message in a received packet: a raw IPv4 socket delivers the IP header too.
func (s *icmpSocket) icmpPayload(b []byte) []byte {
	// ICMP messages never start with 0x4_.
	if !s.v6 && s.raw && len(b) >= 20 && b[0]>>4 == 4 {
		if hl := int(b[0]&0x0f) * 4; hl >= 20 && hl <= len(b) {
			return b[hl:]
		}
	}
	return b
}

// ICMP message types the engine sends and reads, per RFC 792 and RFC 4443.
const (
	icmp4EchoRequest  = 8
	icmp4EchoReply    = 0
	icmp4Unreachable  = 3
	icmp4TimeExceeded = 11
	icmp6EchoRequest  = 128
	icmp6EchoReply    = 129
	icmp6Unreachable  = 1
	icmp6TimeExceeded = 3
)

// checksum is the Internet checksum (RFC 1071) of b.
func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// pendingEcho is an echo waiting for (or having had) its reply.
type pendingEcho struct {
	res      *Result
	sample   int
	addr     netip.Addr
	sent     time.Time
	deadline time.Time
	done     bool // reply, error or timeout settled
}

// icmpSweep is the shared engine's state for one sweep.
type icmpSweep struct {
	cfg    *Config
	cookie [8]byte
	id     uint16
	done   *atomic.Int64

	mu          sync.Mutex
	pending     map[uint16]*pendingEcho // by sequence number; one sequence space for the whole sweep
	nextSeq     uint16
	outstanding int
	settled     chan struct{} // signalled when outstanding drops to zero after the last send
	allSent     bool
}

// runICMPShared sends every ICMP job on one socket per address family and reads the replies, all from one
// goroutine around the engine's poller.
func runICMPShared(ctx context.Context, cfg *Config, start time.Time, jobs []job, done *atomic.Int64) error {
	e := &icmpSweep{cfg: cfg, done: done, pending: map[uint16]*pendingEcho{}, settled: make(chan struct{}, 1)}
	var rnd [10]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return fmt.Errorf("ICMP identifier: %w", err)
	}
	copy(e.cookie[:], rnd[:8])
	e.id = binary.BigEndian.Uint16(rnd[8:])
	e.nextSeq = binary.BigEndian.Uint16(rnd[:2])

	p, err := newPoller(ctx)
	if err != nil {
		return fmt.Errorf("ICMP: %w", err)
	}
	defer p.close()
	var socks [2]*icmpSocket // IPv4, IPv6
	defer func() {
		markOverflow(cfg, jobs, socks)
		for _, s := range socks {
			if s != nil {
				unix.Close(s.fd)
			}
		}
		// Whatever is still pending has timed out (or ctx ended).
		e.mu.Lock()
		for seq, pe := range e.pending {
			if !pe.done {
				pe.done = true
				e.done.Add(1)
			}
			delete(e.pending, seq)
		}
		e.mu.Unlock()
	}()
	rcvbuf := cfg.ICMPReceiveBuffer
	if rcvbuf == 0 {
		rcvbuf = rcvbufFor(jobs, cfg.Timeout)
	}
	for _, j := range jobs {
		v6 := j.res.Address.Is6()
		fam := 0
		if v6 {
			fam = 1
		}
		if socks[fam] != nil {
			continue
		}
		s, err := openICMP(v6, e.id, rcvbuf)
		if err != nil {
			return err
		}
		s.ovfl.start(time.Now())
		socks[fam] = s
		if err := p.add(s.fd, unix.EPOLLIN, int32(s.fd)); err != nil {
			return fmt.Errorf("ICMP: epoll_ctl: %w", err)
		}
		cfg.Logger.Debug("ICMP socket open", "ipv6", v6, "raw", s.raw, "id", s.id, "rcvbuf", s.rcvbuf)
	}

	// One echo buffer per family, the cookie already in place; only type, identifier, sequence and
	// checksum change per send, so sending allocates nothing.
	var pkts [2][8 + payloadLen]byte
	for fam, s := range socks {
		if s == nil {
			continue
		}
		pkts[fam][0] = icmp4EchoRequest
		if s.v6 {
			pkts[fam][0] = icmp6EchoRequest
		}
		binary.BigEndian.PutUint16(pkts[fam][4:6], s.id)
		copy(pkts[fam][8:], e.cookie[:])
	}
	batch := newRecvBatch(32)
	var lastDeadline time.Time
	next := 0
	listening := true
	for {
		now := time.Now()
		for next < len(jobs) && !start.Add(jobs[next].at).After(now) {
			j := jobs[next]
			next++
			fam := 0
			if j.res.Address.Is6() {
				fam = 1
			}
			s, pkt := socks[fam], pkts[fam][:]
			pe := &pendingEcho{res: j.res, sample: j.sample, addr: j.res.Address}
			e.mu.Lock()
			seq := e.allocSeq()
			e.pending[seq] = pe
			e.outstanding++
			binary.BigEndian.PutUint16(pkt[6:8], seq)
			if !s.v6 { // the kernel fills ICMPv6's checksum (it covers the IPv6 pseudo-header)
				pkt[2], pkt[3] = 0, 0
				binary.BigEndian.PutUint16(pkt[2:4], checksum(pkt))
			}
			pe.sent = time.Now()
			pe.deadline = pe.sent.Add(cfg.Timeout)
			smp := &j.res.Samples[j.sample]
			smp.SentAt = pe.sent
			if serr := s.send(pkt, j.res.Address); serr != nil {
				smp.Failure = sendFailure(serr)
				pe.done = true
				e.settle()
				if j.res.Err == "" {
					j.res.Err = fmt.Sprintf("send to %s: %v", j.res.Address, serr)
				}
			}
			lastDeadline = pe.deadline
			e.mu.Unlock()
		}
		wake := lastDeadline
		if next < len(jobs) {
			wake = start.Add(jobs[next].at)
		} else {
			e.mu.Lock()
			e.allSent = true
			settled := e.outstanding == 0
			e.mu.Unlock()
			if settled || !now.Before(lastDeadline) {
				return nil
			}
		}
		// Replies are timed by the kernel, so reading them can wait for the next send when that is near:
		// the engine then wakes once per send instead of once per send and once per reply.
		if listen := next == len(jobs) || wake.Sub(now) > maxReadDelay; listen != listening {
			ev := uint32(0)
			if listen {
				ev = unix.EPOLLIN
			}
			for _, s := range socks {
				if s != nil {
					if err := p.mod(s.fd, ev, int32(s.fd)); err != nil {
						return fmt.Errorf("ICMP: epoll_ctl: %w", err)
					}
				}
			}
			listening = listen
		}
		p.arm(wake)
		_, _, stopped, err := p.wait()
		if err != nil {
			return fmt.Errorf("ICMP: %w", err)
		}
		if stopped {
			return ctx.Err()
		}
		for _, s := range socks {
			if s != nil {
				e.drain(s, batch)
			}
		}
	}
}

// maxReadDelay is how long queued replies may wait for the engine while sends are due: their RTTs come
// from the kernel's receive stamps, so only the rare reply without a usable stamp (a clock step) is
// timed up to this much late.
const maxReadDelay = time.Millisecond

func sendFailure(err error) Failure {
	switch {
	case errors.Is(err, unix.EHOSTUNREACH), errors.Is(err, unix.ENETUNREACH):
		return FailUnreachable
	}
	return FailError
}

// allocSeq returns the next free sequence number, dropping echoes whose deadline passed. Caller holds mu.
func (e *icmpSweep) allocSeq() uint16 {
	now := time.Now()
	for range 1 << 16 {
		seq := e.nextSeq
		e.nextSeq++
		p, busy := e.pending[seq]
		if !busy {
			return seq
		}
		if now.After(p.deadline) {
			if !p.done {
				p.done = true
				e.outstanding--
				e.done.Add(1)
			}
			delete(e.pending, seq)
			return seq
		}
	}
	// 65,536 echoes in flight within one timeout: reuse the oldest slot; its echo counts as lost.
	return e.nextSeq
}

// drain reads every queued packet of s and settles the echoes they answer.
func (e *icmpSweep) drain(s *icmpSocket, batch *recvBatch) {
	for {
		n, err := batch.recv(s.fd)
		user := time.Now() // monotonic upper bound of the receive times
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return // drained
		}
		if err != nil {
			e.cfg.Logger.Debug("ICMP receive", "err", err)
			return
		}
		for i := range n {
			b, from, kernel, drops := batch.packet(i)
			e.packet(s, s.icmpPayload(b), from, kernel, drops, user)
		}
		if n < len(batch.hdrs) {
			return // the queue was emptied; the poller reports what comes next
		}
	}
}

func (e *icmpSweep) packet(s *icmpSocket, b []byte, from netip.Addr, kernel time.Time, drops uint32, user time.Time) {
	// The drop count is the one when the packet was queued: at the kernel stamp, mapped onto the
	// monotonic clock (without one, the user-space time bounds it from above only).
	if kernel.IsZero() {
		s.ovfl.saw(drops, user, false)
	} else {
		s.ovfl.saw(drops, user.Add(-max(user.Round(0).Sub(kernel), 0)), true)
	}
	if len(b) < 8 {
		return
	}
	reply, unreach, exceeded := byte(icmp4EchoReply), byte(icmp4Unreachable), byte(icmp4TimeExceeded)
	if s.v6 {
		reply, unreach, exceeded = icmp6EchoReply, icmp6Unreachable, icmp6TimeExceeded
	}
	switch b[0] {
	case reply:
		if b[1] != 0 { // an echo reply has code 0
			return
		}
		id, seq := binary.BigEndian.Uint16(b[4:6]), binary.BigEndian.Uint16(b[6:8])
		// A datagram socket only gets its own replies; a raw socket sees everyone's.
		if s.raw && (id != s.id || len(b) < 16 || string(b[8:16]) != string(e.cookie[:])) {
			return
		}
		e.reply(seq, from, kernel, user)
	case unreach, exceeded:
		if s.raw {
			e.icmpError(s, b[8:]) // after type, code, checksum and 4 unused bytes: the original datagram
		}
	}
}

func (e *icmpSweep) reply(seq uint16, from netip.Addr, kernel, user time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.pending[seq]
	if p == nil || p.addr != from {
		return
	}
	smp := &p.res.Samples[p.sample]
	if smp.Received {
		smp.Duplicates++
		return
	}
	if p.done {
		return // timed out or failed already
	}
	rtt, src := user.Sub(p.sent), RTTWall // monotonic
	if !kernel.IsZero() {
		// Kernel stamps are wall clock: trust them only when consistent with the monotonic bounds.
		if k := kernel.Sub(p.sent.Round(0)); k > 0 && k <= rtt {
			rtt, src = k, RTTKernel
		}
	}
	if rtt > e.cfg.Timeout {
		return // late: the per-packet timeout has passed, the sample stays a timeout
	}
	smp.RTT, smp.RTTSource, smp.Received, smp.Failure = rtt, src, true, FailNone
	p.done = true
	e.settle()
}

// settle marks one echo as finished. Caller holds mu.
func (e *icmpSweep) settle() {
	e.outstanding--
	e.done.Add(1)
	if e.allSent && e.outstanding == 0 {
		select {
		case e.settled <- struct{}{}:
		default:
		}
	}
}

// icmpError marks the echo quoted in a destination-unreachable or time-exceeded message; data is the
// message body after its 8-byte header.
func (e *icmpSweep) icmpError(s *icmpSocket, data []byte) {
	// data is the original IP header followed by at least 8 bytes of our echo request.
	var inner []byte
	var dst netip.Addr
	if s.v6 {
		if len(data) < 40+8 {
			return
		}
		dst = netip.AddrFrom16([16]byte(data[24:40]))
		inner = data[40:]
	} else {
		if len(data) < 20 {
			return
		}
		hl := int(data[0]&0x0f) * 4
		if len(data) < hl+8 {
			return
		}
		dst = netip.AddrFrom4([4]byte(data[16:20]))
		inner = data[hl:]
	}
	if binary.BigEndian.Uint16(inner[4:6]) != s.id {
		return
	}
	seq := binary.BigEndian.Uint16(inner[6:8])
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.pending[seq]
	if p == nil || p.done || p.addr != dst.Unmap() {
		return
	}
	smp := &p.res.Samples[p.sample]
	smp.Failure = FailUnreachable
	p.done = true
	e.settle()
}

// runProBing is the cross-check path: one pro-bing Pinger per target, at most MaxSockets at once. Its
// RTTs carry pro-bing's user-space receive timing; Timeout is always set so a lost reply cannot hang Run.
func runProBing(ctx context.Context, cfg *Config, results []Result, done *atomic.Int64) error {
	sem := make(chan struct{}, cfg.MaxSockets)
	var wg sync.WaitGroup
	privileged := os.Geteuid() == 0
	for ri := range results {
		r := &results[ri]
		if r.Kind != KindICMP || r.Failure == FailDNS {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			p := probing.New(r.Address.String())
			p.SetPrivileged(privileged)
			p.Count = len(r.Samples)
			p.Interval = cfg.Interval
			p.Timeout = time.Duration(len(r.Samples)-1)*cfg.Interval + cfg.Timeout
			p.RecordRtts = false
			start := time.Now()
			var mu sync.Mutex
			p.OnSend = func(pkt *probing.Packet) {
				mu.Lock()
				defer mu.Unlock()
				if pkt.Seq < len(r.Samples) {
					r.Samples[pkt.Seq].SentAt = time.Now()
				}
			}
			p.OnRecv = func(pkt *probing.Packet) {
				mu.Lock()
				defer mu.Unlock()
				if pkt.Seq < len(r.Samples) && pkt.Rtt <= cfg.Timeout {
					s := &r.Samples[pkt.Seq]
					// pro-bing times replies in user space after a channel hop.
					s.RTT, s.RTTSource, s.Received, s.Failure = pkt.Rtt, RTTWall, true, FailNone
				}
			}
			p.OnDuplicateRecv = func(pkt *probing.Packet) {
				mu.Lock()
				defer mu.Unlock()
				if pkt.Seq < len(r.Samples) {
					r.Samples[pkt.Seq].Duplicates++
				}
			}
			err := p.RunWithContext(ctx)
			mu.Lock()
			for i := range r.Samples {
				if r.Samples[i].SentAt.IsZero() {
					r.Samples[i].SentAt = start.Add(time.Duration(i) * cfg.Interval)
				}
			}
			mu.Unlock()
			done.Add(int64(len(r.Samples)))
			if err != nil && ctx.Err() == nil {
				r.Failure, r.Err = FailError, fmt.Sprintf("pro-bing %s: %v", r.Address, err)
			}
		}()
	}
	wg.Wait()
	return nil
}
