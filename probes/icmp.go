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
	"syscall"
	"time"

	probing "github.com/prometheus-community/pro-bing"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// payloadLen matches ping's default 56 data bytes; the first 8 carry a per-sweep cookie so a raw socket
// ignores other programs' echoes that happen to use our identifier.
const payloadLen = 56

// icmpSocket is one ICMP socket for one address family, shared by every target of a sweep.
type icmpSocket struct {
	v6  bool
	raw bool // raw socket (root); otherwise an unprivileged ICMP datagram socket
	f   *os.File
	rc  syscall.RawConn
	id  uint16 // identifier in our echoes; for datagram sockets the kernel replaces it by the local port
}

// openICMP opens a raw ICMP socket when allowed, else an unprivileged datagram ICMP socket
// (net.ipv4.ping_group_range), with SO_TIMESTAMPNS on.
func openICMP(v6 bool, id uint16) (*icmpSocket, error) {
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
	// A sweep's replies can arrive in a burst; a small buffer would drop them and report false loss.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
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
	s.f = os.NewFile(uintptr(fd), "icmp")
	rc, err := s.f.SyscallConn()
	if err != nil {
		s.f.Close()
		return nil, fmt.Errorf("ICMP socket: %w", err)
	}
	s.rc = rc
	return s, nil
}

func (s *icmpSocket) send(b []byte, to netip.Addr) error {
	var sa unix.Sockaddr
	if s.v6 {
		sa = &unix.SockaddrInet6{Addr: to.As16()}
	} else {
		sa = &unix.SockaddrInet4{Addr: to.As4()}
	}
	var serr error
	err := s.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b, 0, sa)
		return serr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return serr
}

// recv reads one packet; kernel is the SO_TIMESTAMPNS receive time (zero if absent), user the monotonic
// time right after recvmsg returned.
func (s *icmpSocket) recv(b, oob []byte) (n int, from netip.Addr, kernel, user time.Time, err error) {
	var oobn int
	var sa unix.Sockaddr
	var rerr error
	err = s.rc.Read(func(fd uintptr) bool {
		n, oobn, _, sa, rerr = unix.Recvmsg(int(fd), b, oob, 0)
		return rerr != unix.EAGAIN
	})
	user = time.Now()
	if err != nil {
		// The socket was closed (end of sweep): rc.Read's own error, not recvmsg's.
		return 0, from, kernel, user, errSocketClosed{err}
	}
	if rerr != nil {
		return 0, from, kernel, user, rerr
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		from = netip.AddrFrom4(a.Addr)
	case *unix.SockaddrInet6:
		from = netip.AddrFrom16(a.Addr).Unmap()
	}
	if msgs, perr := unix.ParseSocketControlMessage(oob[:oobn]); perr == nil {
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
				sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
				nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
				kernel = time.Unix(sec, nsec)
			}
		}
	}
	// Raw IPv4 sockets deliver the IP header; ICMP messages never start with 0x4_.
	if !s.v6 && s.raw && n >= 20 && b[0]>>4 == 4 {
		hl := int(b[0]&0x0f) * 4
		if hl >= 20 && hl <= n {
			copy(b, b[hl:n])
			n -= hl
		}
	}
	return n, from, kernel, user, nil
}

// errSocketClosed ends the read loop.
type errSocketClosed struct{ err error }

func (e errSocketClosed) Error() string { return "ICMP socket closed: " + e.err.Error() }

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

// runICMPShared sends every ICMP job on one socket per address family and waits for the replies.
func runICMPShared(ctx context.Context, cfg *Config, start time.Time, jobs []job, done *atomic.Int64) error {
	e := &icmpSweep{cfg: cfg, done: done, pending: map[uint16]*pendingEcho{}, settled: make(chan struct{}, 1)}
	var rnd [10]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return fmt.Errorf("ICMP identifier: %w", err)
	}
	copy(e.cookie[:], rnd[:8])
	e.id = binary.BigEndian.Uint16(rnd[8:])
	e.nextSeq = binary.BigEndian.Uint16(rnd[:2])

	socks := map[bool]*icmpSocket{}
	for _, j := range jobs {
		v6 := j.res.Address.Is6()
		if socks[v6] != nil {
			continue
		}
		s, err := openICMP(v6, e.id)
		if err != nil {
			for _, o := range socks {
				o.f.Close()
			}
			return err
		}
		cfg.Logger.Debug("ICMP socket open", "ipv6", v6, "raw", s.raw, "id", s.id)
		socks[v6] = s
	}
	var rwg sync.WaitGroup
	for _, s := range socks {
		rwg.Add(1)
		go func() { defer rwg.Done(); e.readLoop(s) }()
	}
	defer func() {
		for _, s := range socks {
			s.f.Close()
		}
		rwg.Wait()
		// Whatever is still pending has timed out (or ctx ended).
		e.mu.Lock()
		for seq, p := range e.pending {
			if !p.done {
				p.done = true
				e.done.Add(1)
			}
			delete(e.pending, seq)
		}
		e.mu.Unlock()
	}()

	buf := make([]byte, 8+payloadLen)
	var lastDeadline time.Time
	for _, j := range jobs {
		if !sleepUntil(ctx, start.Add(j.at)) {
			return ctx.Err()
		}
		s := socks[j.res.Address.Is6()]
		p := &pendingEcho{res: j.res, sample: j.sample, addr: j.res.Address}
		e.mu.Lock()
		seq := e.allocSeq()
		e.pending[seq] = p
		e.outstanding++
		var typ icmp.Type = ipv4.ICMPTypeEcho
		if s.v6 {
			typ = ipv6.ICMPTypeEchoRequest
		}
		data := make([]byte, payloadLen)
		copy(data, e.cookie[:])
		m := icmp.Message{Type: typ, Body: &icmp.Echo{ID: int(s.id), Seq: int(seq), Data: data}}
		b, err := m.Marshal(nil) // ICMPv4 checksum computed here; the kernel fills ICMPv6's
		if err != nil {
			e.mu.Unlock()
			return fmt.Errorf("marshal echo: %w", err)
		}
		buf = append(buf[:0], b...)
		p.sent = time.Now()
		p.deadline = p.sent.Add(cfg.Timeout)
		smp := &j.res.Samples[j.sample]
		smp.SentAt = p.sent
		serr := s.send(buf, j.res.Address)
		if serr != nil {
			smp.Failure = sendFailure(serr)
			p.done = true
			e.settle()
			if j.res.Err == "" {
				j.res.Err = fmt.Sprintf("send to %s: %v", j.res.Address, serr)
			}
		}
		lastDeadline = p.deadline
		e.mu.Unlock()
	}
	e.mu.Lock()
	e.allSent = true
	empty := e.outstanding == 0
	e.mu.Unlock()
	if empty {
		return nil
	}
	t := time.NewTimer(time.Until(lastDeadline))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	case <-e.settled:
	}
	return nil
}

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

func (e *icmpSweep) readLoop(s *icmpSocket) {
	b := make([]byte, 1500)
	oob := make([]byte, 512)
	proto := 1
	if s.v6 {
		proto = 58
	}
	for {
		n, from, kernel, user, err := s.recv(b, oob)
		if err != nil {
			var closed errSocketClosed
			if errors.As(err, &closed) {
				return
			}
			e.cfg.Logger.Debug("ICMP receive", "err", err)
			continue
		}
		m, err := icmp.ParseMessage(proto, b[:n])
		if err != nil {
			continue
		}
		switch m.Type {
		case ipv4.ICMPTypeEchoReply, ipv6.ICMPTypeEchoReply:
			echo, ok := m.Body.(*icmp.Echo)
			if !ok {
				continue
			}
			// A datagram socket only gets its own replies; a raw socket sees everyone's.
			if s.raw && (uint16(echo.ID) != s.id || len(echo.Data) < 8 || string(echo.Data[:8]) != string(e.cookie[:])) {
				continue
			}
			e.reply(uint16(echo.Seq), from, kernel, user)
		case ipv4.ICMPTypeDestinationUnreachable, ipv6.ICMPTypeDestinationUnreachable,
			ipv4.ICMPTypeTimeExceeded, ipv6.ICMPTypeTimeExceeded:
			if s.raw {
				e.icmpError(s, m)
			}
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

// icmpError marks the echo quoted in a destination-unreachable or time-exceeded message.
func (e *icmpSweep) icmpError(s *icmpSocket, m *icmp.Message) {
	var data []byte
	switch b := m.Body.(type) {
	case *icmp.DstUnreach:
		data = b.Data
	case *icmp.TimeExceeded:
		data = b.Data
	default:
		return
	}
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
