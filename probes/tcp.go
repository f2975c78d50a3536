package probes

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The TCP engine is one goroutine around one epoll instance: it opens a non-blocking socket per handshake,
// starts connect() at the job's time, and waits in epoll_wait for the sockets to become writable (or to
// fail) and for a timerfd that marks the next send or the next timeout. There is no goroutine, Go timer
// or net.Conn per handshake: with net.Dialer each one cost a goroutine, a runtime timer, netpoller
// registration and getsockname/getpeername calls, which made TCP the larger part of a sweep's CPU.
//
// The RTT is the kernel's: right after the socket connects, TCP_INFO's tcpi_rtt is the SYN → SYN-ACK time
// the kernel measured in softirq, in microseconds, free of scheduling and netpoller delay. For a fresh
// connection it is exactly the first RTT sample: tcp_rtt_estimator sets srtt = m<<3 and mdev = m<<1 on the
// first sample, TCP_INFO reports srtt>>3 and mdev>>2, so tcpi_rtt = m and tcpi_rttvar = m/2. The engine
// checks that relation and uses the kernel figure only when it holds and no SYN was retransmitted (Karn:
// the kernel takes no sequence-based sample from a retransmitted SYN, and one from TCP timestamps has
// millisecond resolution). Otherwise the sample's RTT is the connect() wall time, marked RTTWall. The
// wall time is kept in every sample: it is what an application feels.

// RTTSource says which clock a sample's RTT came from.
type RTTSource string

const (
	// RTTKernel: ICMP, the kernel's SO_TIMESTAMPNS receive time; TCP, tcpi_rtt (SYN → SYN-ACK).
	RTTKernel RTTSource = "kernel"
	// RTTWall: ICMP, the user-space monotonic receive time (no consistent kernel stamp); TCP, the
	// monotonic wall time of connect() (a retransmitted SYN, or no usable kernel sample).
	RTTWall RTTSource = "wall"
)

// tcpConn is one handshake in flight.
type tcpConn struct {
	fd       int
	res      *Result
	smp      *Sample
	t0       time.Time // just before connect()
	deadline time.Time
	done     bool
}

// runTCP runs every TCP job at its scheduled time, with at most cfg.MaxSockets handshakes in flight.
func runTCP(ctx context.Context, cfg *Config, start time.Time, jobs []job, done *atomic.Int64) error {
	p, err := newPoller(ctx)
	if err != nil {
		return fmt.Errorf("TCP: %w", err)
	}
	defer p.close()

	inflight := make(map[int32]*tcpConn, min(cfg.MaxSockets, len(jobs)))
	// fifo holds handshakes in send order; with one timeout for all, that is deadline order too.
	var fifo []*tcpConn
	next := 0
	settle := func(c *tcpConn) {
		c.done = true
		delete(inflight, int32(c.fd))
		closeRaw(c.fd)
		done.Add(1)
	}
	defer func() {
		// ctx ended: whatever is in flight is abandoned.
		for _, c := range inflight {
			closeRaw(c.fd)
			done.Add(1)
		}
	}()
	for {
		now := time.Now()
		for next < len(jobs) && len(inflight) < cfg.MaxSockets && !start.Add(jobs[next].at).After(now) {
			j := jobs[next]
			next++
			c, err := connectStart(j, cfg.Timeout)
			if err != nil {
				cfg.Logger.Debug("TCP connect failed", "target", j.res.Target, "err", err)
				done.Add(1)
				continue
			}
			if c.done { // connected or failed within connect()
				done.Add(1)
				continue
			}
			if err := p.add(c.fd, unix.EPOLLOUT, int32(c.fd)); err != nil {
				closeRaw(c.fd)
				c.smp.Failure = FailError
				done.Add(1)
				continue
			}
			inflight[int32(c.fd)] = c
			fifo = append(fifo, c)
		}
		for len(fifo) > 0 && (fifo[0].done || !fifo[0].deadline.After(now)) {
			c := fifo[0]
			fifo[0] = nil
			fifo = fifo[1:]
			if !c.done {
				c.smp.Failure = FailTimeout
				settle(c)
			}
		}
		if next == len(jobs) && len(inflight) == 0 {
			return nil
		}
		var wake time.Time
		if next < len(jobs) && len(inflight) < cfg.MaxSockets {
			wake = start.Add(jobs[next].at)
		}
		if len(fifo) > 0 && (wake.IsZero() || fifo[0].deadline.Before(wake)) {
			wake = fifo[0].deadline
		}
		p.arm(wake)
		evs, t1, stopped, err := p.wait() // t1: one reading for every socket reported, all connected before it
		if err != nil {
			return fmt.Errorf("TCP: %w", err)
		}
		if stopped {
			return ctx.Err()
		}
		for _, ev := range evs {
			c := inflight[ev.Fd]
			if c == nil {
				continue
			}
			connectDone(c, t1, cfg.Timeout)
			settle(c)
		}
	}
}

// connectStart opens a socket for j and starts connect(). The returned tcpConn is done when connect()
// already settled (an immediate error, or an immediate connection on loopback).
func connectStart(j job, timeout time.Duration) (*tcpConn, error) {
	smp := &j.res.Samples[j.sample]
	var to rawSockaddr
	to.set(j.res.Address, j.res.Port)
	family := unix.AF_INET
	if to.v6 {
		family = unix.AF_INET6
	}
	fd, err := socketRaw(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		smp.SentAt, smp.Failure = time.Now(), FailError
		if j.res.Err == "" {
			j.res.Err = fmt.Sprintf("TCP socket: %v", err)
		}
		return nil, err
	}
	// Close with a reset: the handshake is all we measure, and an orderly close would cost a FIN
	// exchange and a TIME_WAIT socket per sample.
	linger := unix.Linger{Onoff: 1, Linger: 0}
	_, _, _ = unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_LINGER,
		uintptr(unsafe.Pointer(&linger)), unsafe.Sizeof(linger), 0)
	c := &tcpConn{fd: fd, res: j.res, smp: smp}
	c.t0 = time.Now()
	c.deadline = c.t0.Add(timeout)
	smp.SentAt = c.t0
	err = connectRaw(fd, &to)
	switch {
	case err == nil:
		connectDone(c, time.Now(), timeout)
		closeRaw(fd)
		c.done = true
	case err == unix.EINPROGRESS:
	default:
		smp.Failure = dialFailure(err)
		closeRaw(fd)
		c.done = true
	}
	return c, nil
}

// connectDone settles a handshake whose socket epoll reported at t1: TCP_INFO says whether it connected
// and carries the kernel's RTT sample; SO_ERROR says why not.
func connectDone(c *tcpConn, t1 time.Time, timeout time.Duration) {
	smp := c.smp
	var info unix.TCPInfo
	if _, err := getsockoptRaw(c.fd, unix.IPPROTO_TCP, unix.TCP_INFO, unsafe.Pointer(&info), unsafe.Sizeof(info)); err != nil {
		smp.Failure = dialFailure(err)
		return
	}
	// Established, or already closed by the peer (a server that hangs up at once): connected, and
	// SO_ERROR is 0. Otherwise SO_ERROR says whether and why connect() failed.
	if info.State != tcpEstablished && info.State != tcpCloseWait {
		var soerr int32
		_, err := getsockoptRaw(c.fd, unix.SOL_SOCKET, unix.SO_ERROR, unsafe.Pointer(&soerr), unsafe.Sizeof(soerr))
		if err == nil && soerr != 0 {
			err = unix.Errno(soerr)
		}
		if err != nil {
			smp.Failure = dialFailure(err)
			return
		}
	}
	wall := t1.Sub(c.t0) // monotonic
	if wall > timeout {
		smp.Failure = FailTimeout
		return
	}
	smp.WallRTT = wall
	smp.RTT, smp.RTTSource, smp.Received, smp.Failure = wall, RTTWall, true, FailNone
	smp.KernelRTT = time.Duration(info.Rtt) * time.Microsecond
	smp.SYNRetransmitted = info.Total_retrans > 0
	if kernelSampleUsable(&info) {
		smp.RTT, smp.RTTSource = smp.KernelRTT, RTTKernel
	}
}

// kernelSampleUsable reports whether tcpi_rtt is the single SYN → SYN-ACK sample of a fresh connection:
// no retransmission, and rttvar = rtt/2 as tcp_rtt_estimator leaves it after exactly one sample (both
// rounded down to microseconds, hence the slack of one).
func kernelSampleUsable(info *unix.TCPInfo) bool {
	if info.Total_retrans > 0 || info.Rtt == 0 {
		return false
	}
	d := int64(info.Rtt/2) - int64(info.Rttvar)
	return d >= -1 && d <= 1
}

// dialFailure maps a connect error to a Failure.
func dialFailure(err error) Failure {
	switch {
	case errors.Is(err, unix.ECONNREFUSED):
		return FailRefused
	case errors.Is(err, unix.EHOSTUNREACH), errors.Is(err, unix.ENETUNREACH):
		return FailUnreachable
	case errors.Is(err, unix.ETIMEDOUT):
		return FailTimeout
	}
	return FailError
}

// tcpi_state values (include/net/tcp_states.h).
const (
	tcpEstablished = 1
	tcpCloseWait   = 8
)
