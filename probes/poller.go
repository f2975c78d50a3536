package probes

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// poller is an engine's own epoll instance with a timerfd for its next deadline and an eventfd that ctx
// ending writes. An engine is one goroutine that sends, then blocks in epoll_wait until a socket is ready
// or the timer fires: no goroutine, Go timer or netpoller registration per packet. Measured with strace on
// the 1,000-target lab, the earlier design (a timer per send and a reader goroutine woken by the netpoller)
// spent most of its system time in futex calls handing goroutines between threads.
type poller struct {
	ep, tfd, sfd int
	stop         func() bool
	monoBase     int64 // CLOCK_MONOTONIC at goBase: Go's monotonic readings have another origin
	goBase       time.Time
	events       []unix.EpollEvent
}

// Tags in epoll_event.Fd for the poller's own descriptors; sockets use their fd (always >= 0).
const (
	tagTimer = -1
	tagStop  = -2
)

func newPoller(ctx context.Context) (*poller, error) {
	p := &poller{ep: -1, tfd: -1, sfd: -1, events: make([]unix.EpollEvent, 128)}
	var err error
	fail := func(what string, err error) (*poller, error) {
		p.close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if p.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fail("epoll", err)
	}
	if p.tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		return fail("timerfd", err)
	}
	if p.sfd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return fail("eventfd", err)
	}
	if err := p.add(p.tfd, unix.EPOLLIN, tagTimer); err != nil {
		return fail("epoll_ctl", err)
	}
	if err := p.add(p.sfd, unix.EPOLLIN, tagStop); err != nil {
		return fail("epoll_ctl", err)
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return fail("clock", err)
	}
	p.monoBase, p.goBase = ts.Nano(), time.Now()
	sfd := p.sfd
	p.stop = context.AfterFunc(ctx, func() { _, _ = unix.Write(sfd, []byte{1, 0, 0, 0, 0, 0, 0, 0}) })
	return p, nil
}

func (p *poller) add(fd int, events uint32, tag int32) error {
	return unix.EpollCtl(p.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: events, Fd: tag})
}

// arm sets the timer to fire at at (or at once when at has passed).
func (p *poller) arm(at time.Time) {
	ns := p.monoBase + int64(at.Sub(p.goBase))
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(max(ns, 1))}
	_ = unix.TimerfdSettime(p.tfd, unix.TFD_TIMER_ABSTIME, &spec, nil)
}

// wait blocks until a socket is ready, the timer fires or ctx ends. It returns the socket events and the
// time right after epoll_wait returned; stopped is true when ctx ended.
func (p *poller) wait() (evs []unix.EpollEvent, t1 time.Time, stopped bool, err error) {
	n, err := unix.EpollWait(p.ep, p.events, -1)
	t1 = time.Now()
	if err != nil {
		if errors.Is(err, unix.EINTR) {
			return nil, t1, false, nil
		}
		return nil, t1, false, fmt.Errorf("epoll_wait: %w", err)
	}
	evs = p.events[:0]
	for _, ev := range p.events[:n] {
		switch ev.Fd {
		case tagTimer:
			var b [8]byte
			_, _ = unix.Read(p.tfd, b[:])
		case tagStop:
			stopped = true
		default:
			evs = append(evs, ev)
		}
	}
	return evs, t1, stopped, nil
}

func (p *poller) close() {
	if p.stop != nil {
		p.stop()
	}
	for _, fd := range []int{p.ep, p.tfd, p.sfd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}
