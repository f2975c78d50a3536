package probes

import (
	"encoding/binary"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The engines' system calls on their own non-blocking descriptors never block, so they go through
// RawSyscall: the runtime's syscall path (entersyscall/exitsyscall) wakes sysmon from its idle sleep on
// every call, and with an engine waking a thousand times a second sysmon's nanosleeps and futex wakes
// were the larger part of a sweep's CPU (perf). Blocking is done only by parking on the netpoller
// (poller.wait).

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// epollWaitNow collects ready events without blocking.
func epollWaitNow(ep int, events []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), 0, 0, 0)
	return int(n), errnoErr(e)
}

// rawSockaddr is a destination kept in kernel form, so a send converts nothing.
type rawSockaddr struct {
	v6  bool
	sa4 unix.RawSockaddrInet4
	sa6 unix.RawSockaddrInet6
}

func (r *rawSockaddr) set(a netip.Addr, port uint16) {
	if r.v6 = a.Is6(); r.v6 {
		r.sa6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&r.sa6.Port))[:], port)
		return
	}
	r.sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&r.sa4.Port))[:], port)
}

func (r *rawSockaddr) ptr() (unsafe.Pointer, uintptr) {
	if r.v6 {
		return unsafe.Pointer(&r.sa6), unix.SizeofSockaddrInet6
	}
	return unsafe.Pointer(&r.sa4), unix.SizeofSockaddrInet4
}

func sendtoRaw(fd int, b []byte, to *rawSockaddr) error {
	p, l := to.ptr()
	_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0,
		uintptr(p), l)
	return errnoErr(e)
}

func connectRaw(fd int, to *rawSockaddr) error {
	p, l := to.ptr()
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(p), l)
	return errnoErr(e)
}

func socketRaw(family, typ, proto int) (int, error) {
	fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), uintptr(typ), uintptr(proto))
	return int(fd), errnoErr(e)
}

func closeRaw(fd int) { _, _, _ = unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0) }

func getsockoptRaw(fd, level, opt int, p unsafe.Pointer, size uintptr) (uintptr, error) {
	l := uint32(size)
	_, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(p),
		uintptr(unsafe.Pointer(&l)), 0)
	return uintptr(l), errnoErr(e)
}

func epollCtlRaw(ep, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(ep), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return errnoErr(e)
}

// recvBatch receives up to len(msgs) packets in one recvmmsg call into preallocated buffers.
type recvBatch struct {
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	bufs  [][]byte
	oobs  [][]byte
	names []unix.RawSockaddrInet6 // large enough for either family
}

// mmsghdr is struct mmsghdr (linux/socket.h).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// Buffer sizes: an echo reply with a raw IPv4 socket's IP header is at most 60+64 bytes; an ICMP error
// needs its header and the quoted IP header and first 8 bytes of our echo (8+60+8 after the outer IP
// header); whatever is longer is cut (MSG_TRUNC), which loses nothing read. Control: SCM_TIMESTAMPNS
// (32 bytes) and SO_RXQ_OVFL (24).
const (
	recvBufLen = 256
	recvOOBLen = 96
)

func newRecvBatch(n int) *recvBatch {
	r := &recvBatch{hdrs: make([]mmsghdr, n), iovs: make([]unix.Iovec, n), bufs: make([][]byte, n),
		oobs: make([][]byte, n), names: make([]unix.RawSockaddrInet6, n)}
	buf := make([]byte, n*recvBufLen)
	oob := make([]byte, n*recvOOBLen)
	for i := range n {
		r.bufs[i] = buf[i*recvBufLen : (i+1)*recvBufLen]
		r.oobs[i] = oob[i*recvOOBLen : (i+1)*recvOOBLen]
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(recvBufLen)
	}
	return r
}

// recv fills the batch from fd without blocking and returns how many packets it holds (0 and
// unix.EAGAIN when none was queued).
func (r *recvBatch) recv(fd int) (int, error) {
	for i := range r.hdrs {
		h := &r.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Namelen = unix.SizeofSockaddrInet6
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Control = &r.oobs[i][0]
		h.SetControllen(recvOOBLen)
		h.Flags = 0
	}
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&r.hdrs[0])),
		uintptr(len(r.hdrs)), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// packet returns packet i of the last recv: its bytes, source address and control messages parsed:
// the kernel's receive time (SO_TIMESTAMPNS, zero if absent) and the socket's drop count when it was
// queued (SO_RXQ_OVFL, zero while nothing was dropped).
func (r *recvBatch) packet(i int) (b []byte, from netip.Addr, kernel time.Time, drops uint32) {
	m := &r.hdrs[i]
	b = r.bufs[i][:min(int(m.n), recvBufLen)]
	sa := &r.names[i]
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		from = netip.AddrFrom4(sa4.Addr)
	case unix.AF_INET6:
		from = netip.AddrFrom16(sa.Addr).Unmap()
	}
	for rest := r.oobs[i][:m.hdr.Controllen]; len(rest) >= unix.SizeofCmsghdr; {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&rest[0]))
		if h.Len < unix.SizeofCmsghdr || int(h.Len) > len(rest) {
			break
		}
		data := rest[unix.SizeofCmsghdr:h.Len]
		if h.Level == unix.SOL_SOCKET {
			switch {
			case h.Type == unix.SCM_TIMESTAMPNS && len(data) >= 16:
				kernel = time.Unix(int64(binary.NativeEndian.Uint64(data[0:8])), int64(binary.NativeEndian.Uint64(data[8:16])))
			case h.Type == unix.SO_RXQ_OVFL && len(data) >= 4:
				drops = binary.NativeEndian.Uint32(data[0:4])
			}
		}
		rest = rest[min(cmsgAlign(int(h.Len)), len(rest)):]
	}
	return b, from, kernel, drops
}

func cmsgAlign(n int) int { return (n + unix.SizeofPtr - 1) &^ (unix.SizeofPtr - 1) }
