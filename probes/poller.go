package probes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// poller is an engine's own epoll instance, itself watched by Go's netpoller. An engine is one goroutine
// that sends, then parks until a socket is ready or its next deadline comes: no goroutine, timer or
// netpoller registration per packet, since the engine's sockets live in its own epoll set.
//
// Why the nesting: measured on the 1,000-target lab, a reader goroutine per socket plus a timer per send
// spent most of its system time in futex calls handing goroutines between threads; an engine blocked in
// its own epoll_wait was better, but a goroutine blocked in a system call makes the runtime's sysmon hand
// its P to another thread after 20 µs and wake threads when it returns, which cost 5,000 futex calls and
// 6,000 nanosleeps per 5,000 echoes (strace -c). Parked on the netpoller, the engine's goroutine waits in
// the scheduler's own epoll_wait, with the next deadline as its timeout, and the runtime has nothing to
// hand off.
type poller struct {
	ep       int
	f        *os.File // ep, registered with the netpoller
	rc       syscall.RawConn
	stopped  atomic.Bool
	stop     func() bool
	events   []unix.EpollEvent
	deadline time.Time // as last armed
	readFn   func(uintptr) bool
	n        int // poll's result
	err      error
}

func newPoller(ctx context.Context) (*poller, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	// os.NewFile registers a non-blocking descriptor with the netpoller; an epoll descriptor is readable
	// while its own set has events.
	if err := unix.SetNonblock(ep, true); err != nil {
		unix.Close(ep)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p := &poller{ep: ep, f: os.NewFile(uintptr(ep), "epoll"), events: make([]unix.EpollEvent, 128)}
	if p.rc, err = p.f.SyscallConn(); err != nil {
		p.f.Close()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p.readFn = func(uintptr) bool { return p.poll() }
	p.stop = context.AfterFunc(ctx, func() {
		p.stopped.Store(true)
		_ = p.f.SetReadDeadline(time.Unix(1, 0)) // wakes wait at once
	})
	return p, nil
}

func (p *poller) add(fd int, events uint32, tag int32) error {
	return epollCtlRaw(p.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: events, Fd: tag})
}

func (p *poller) mod(fd int, events uint32, tag int32) error {
	return epollCtlRaw(p.ep, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: events, Fd: tag})
}

// arm sets when wait returns without events (at once when at has passed).
func (p *poller) arm(at time.Time) {
	p.deadline = at
	if !p.stopped.Load() {
		_ = p.f.SetReadDeadline(at)
	}
}

// wait parks until a socket is ready, the time set by arm comes or ctx ends. It returns the socket events
// and the time right after the engine woke; stopped is true when ctx ended.
func (p *poller) wait() (evs []unix.EpollEvent, t1 time.Time, stopped bool, err error) {
	p.n, p.err = 0, nil
	// RawConn.Read polls before it parks, but not once the deadline has passed: then poll here.
	if !time.Now().Before(p.deadline) {
		p.poll()
	} else if !p.stopped.Load() {
		if rerr := p.rc.Read(p.readFn); rerr != nil && !errors.Is(rerr, os.ErrDeadlineExceeded) {
			p.err = rerr
		}
	}
	t1 = time.Now()
	if p.stopped.Load() {
		return nil, t1, true, nil
	}
	if p.err != nil {
		return nil, t1, false, fmt.Errorf("epoll_wait: %w", p.err)
	}
	return p.events[:p.n], t1, false, nil
}

// poll collects ready events without blocking; it reports whether wait has something to return.
func (p *poller) poll() bool {
	for {
		p.n, p.err = epollWaitNow(p.ep, p.events)
		if p.err != unix.EINTR {
			return p.n > 0 || p.err != nil
		}
	}
}

func (p *poller) close() {
	p.stop()
	p.f.Close()
}
