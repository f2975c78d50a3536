package probes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// runTCP runs every TCP job at its scheduled time, with at most cfg.MaxSockets connects in flight.
func runTCP(ctx context.Context, cfg *Config, start time.Time, jobs []job, done *atomic.Int64) {
	sem := make(chan struct{}, cfg.MaxSockets)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, j := range jobs {
		if !sleepUntil(ctx, start.Add(j.at)) {
			return
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done(); done.Add(1) }()
			smp := &j.res.Samples[j.sample]
			err := handshake(ctx, netip.AddrPortFrom(j.res.Address, j.res.Port), cfg.Timeout, smp)
			if err != nil {
				cfg.Logger.Debug("TCP handshake failed", "target", j.res.Target, "err", err)
			}
		}()
	}
}

// handshake times one TCP connect into smp: the monotonic time from just before connect() until the
// socket is connected, and the kernel's tcpi_rtt and retransmission count read right after.
func handshake(ctx context.Context, ap netip.AddrPort, timeout time.Duration, smp *Sample) error {
	var t0 time.Time
	d := net.Dialer{
		Timeout: timeout,
		// Control runs after socket() and just before connect(), so socket setup is not timed.
		ControlContext: func(context.Context, string, string, syscall.RawConn) error {
			t0 = time.Now()
			return nil
		},
	}
	smp.SentAt = time.Now()
	c, err := d.DialContext(ctx, "tcp", ap.String())
	t1 := time.Now()
	if !t0.IsZero() {
		smp.SentAt = t0
	}
	if err != nil {
		smp.Failure = dialFailure(err)
		return err
	}
	defer c.Close()
	smp.RTT, smp.Received, smp.Failure = t1.Sub(t0), true, FailNone
	if t0.IsZero() || smp.RTT > timeout {
		smp.RTT, smp.Received, smp.Failure = 0, false, FailTimeout
		return errors.New("connect exceeded timeout")
	}
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return fmt.Errorf("tcp info: %w", err)
	}
	var info *unix.TCPInfo
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return fmt.Errorf("tcp info: %w", err)
	}
	if ierr != nil {
		return fmt.Errorf("tcp info: %w", ierr)
	}
	smp.KernelRTT = time.Duration(info.Rtt) * time.Microsecond
	smp.SYNRetransmitted = info.Total_retrans > 0
	return nil
}

// dialFailure maps a connect error to a Failure.
func dialFailure(err error) Failure {
	switch {
	case errors.Is(err, unix.ECONNREFUSED):
		return FailRefused
	case errors.Is(err, unix.EHOSTUNREACH), errors.Is(err, unix.ENETUNREACH):
		return FailUnreachable
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), errors.Is(err, unix.ETIMEDOUT):
		return FailTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return FailTimeout
	}
	return FailError
}
