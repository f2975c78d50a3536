//go:build linux

// Package lab is a latency lab: it gives every target a known true round-trip time so that probes,
// benchmarks and demos can be checked against the truth on one machine.
//
// The netem qdisc is not available on the machines varde is developed on, so the lab moves packets in
// user space. Start creates a TUN device in the caller's network namespace with a route for the lab's
// address blocks (a /22 of 198.18.0.0/15, RFC 2544, and a /64 of the ULA prefix fd76:6172:6465::/48
// holding the same host numbers), and a second TUN inside a fresh, anonymous network
// namespace that holds the target addresses, with its default route back through that TUN. The kernel
// of the target namespace answers ICMP and ICMPv6 echo and completes TCP handshakes over IPv4 and IPv6 on
// configured ports (listeners accept and close at once). Every target has one address of each family. Between the two TUNs every packet waits its target's one-way delay (RTT/2
// each way); packets towards a target may be dropped deterministically.
//
// Timing: one goroutine on a locked OS thread serves both directions. It timestamps a packet right after
// it reads it, keeps one min-heap by due time, sleeps in ppoll (timer slack 1 ns) while the next packet is
// far from due and spins on the monotonic clock for the last 200 µs, reading new arrivals while it spins.
// Go timers are only good to about 1 ms here, ppoll to tens of microseconds. A single thread (rather than
// one per direction) picks up the target kernel's reply right after writing the request, which that
// write produced synchronously, instead of paying a second thread's wake-up before timestamping it.
//
// Drop: error diffusion, per target and per IP protocol (ICMP, TCP, other), on packets towards the
// target: an accumulator adds the drop fraction per packet and a packet is dropped each time it reaches 1.
// With Drop 0.1 exactly every 10th echo request is lost: 30 of 300. Replies are never dropped, so echo
// loss equals Drop.
//
// Start raises GOMAXPROCS to the CPU count plus two: the delay line's locked thread holds a P while it
// spins, and a prober in the same process must not wait for the runtime to hand a P back.
//
// Cleanup: devices, routes, listeners and the namespace are all held by file descriptors of this
// process (non-persistent TUNs, an anonymous namespace), so the kernel removes them even when the process
// is killed. Close removes them at once; Start closes the lab when its ctx ends; Start also deletes stale
// "vardelab*" devices whose block lock nobody holds.
package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// MaxTargets is the most targets one lab holds: a /22 block minus network, host and broadcast addresses.
const MaxTargets = 1021

// MaxRTT bounds a target's RTT.
const MaxRTT = 10 * time.Second

var labRange = netip.MustParsePrefix("198.18.0.0/15")

// labRange6 is the lab's IPv6 range: a ULA /48 (RFC 4193; "var" "de" in ASCII). Block n is its n-th /64,
// and a target's IPv6 address carries its IPv4 address's host number in the low 32 bits.
var labRange6 = netip.MustParsePrefix("fd76:6172:6465::/48")

const (
	blockBits = 22
	numBlocks = 1 << (blockBits - 15)
)

func blockPrefix(n int) netip.Prefix {
	base := be32(labRange.Addr().As4()) + uint32(n)<<(32-blockBits)
	return netip.PrefixFrom(addrFrom32(base), blockBits)
}

func blockPrefix6(n int) netip.Prefix {
	a := labRange6.Addr().As16()
	binary.BigEndian.PutUint16(a[6:8], uint16(n))
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

// addr6For is the IPv6 twin of the IPv4 address a of block prefix, in block prefix6.
func addr6For(prefix, prefix6 netip.Prefix, a netip.Addr) netip.Addr {
	b := prefix6.Addr().As16()
	binary.BigEndian.PutUint32(b[12:16], uint32(offset(prefix, a)))
	return netip.AddrFrom16(b)
}

func addrFrom32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Target is one simulated remote host.
type Target struct {
	Name  string        // unique, non-empty label, e.g. "oslo-nix"
	RTT   time.Duration // true round-trip time the lab adds; RTT/2 each way
	Drop  float64       // fraction [0,1] of packets towards the target that are dropped
	Ports []uint16      // TCP ports with a listener on the target's address
	// DropSYNs drops the first n TCP SYNs towards the target, so a prober's first handshake needs a
	// retransmitted SYN (Karn's case: the kernel takes no RTT sample from it).
	DropSYNs int
	// Unreachable leaves the addresses off the target namespace: its kernel answers every packet to them
	// with ICMP (or ICMPv6) destination unreachable, as a router without a route would.
	Unreachable bool
	// DuplicateReplies makes the lab deliver every echo reply from the target twice.
	DuplicateReplies bool
}

// Config configures a lab.
type Config struct {
	Targets []Target     // 1..MaxTargets
	Logger  *slog.Logger // default: discard
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	if len(c.Targets) == 0 {
		return errors.New("lab config: no targets")
	}
	if len(c.Targets) > MaxTargets {
		return fmt.Errorf("lab config: %d targets, at most %d", len(c.Targets), MaxTargets)
	}
	names := make(map[string]int, len(c.Targets))
	for i, t := range c.Targets {
		where := fmt.Sprintf("lab config: target %d (%q)", i, t.Name)
		if t.Name == "" {
			return fmt.Errorf("lab config: target %d: empty name", i)
		}
		if j, dup := names[t.Name]; dup {
			return fmt.Errorf("%s: name already used by target %d", where, j)
		}
		names[t.Name] = i
		if t.RTT < 0 || t.RTT > MaxRTT {
			return fmt.Errorf("%s: RTT %v out of range [0, %v]", where, t.RTT, MaxRTT)
		}
		if !(t.Drop >= 0 && t.Drop <= 1) { // also rejects NaN
			return fmt.Errorf("%s: drop %v out of range [0, 1]", where, t.Drop)
		}
		if t.DropSYNs < 0 {
			return fmt.Errorf("%s: drop SYNs %d: must not be negative", where, t.DropSYNs)
		}
		if t.Unreachable && len(t.Ports) > 0 {
			return fmt.Errorf("%s: an unreachable target has no listeners", where)
		}
		seen := map[uint16]bool{}
		for _, p := range t.Ports {
			if p == 0 {
				return fmt.Errorf("%s: port 0 out of range [1, 65535]", where)
			}
			if seen[p] {
				return fmt.Errorf("%s: port %d listed twice", where, p)
			}
			seen[p] = true
		}
	}
	return nil
}

// Endpoint is a running target: where to probe it and what the truth is.
type Endpoint struct {
	Name  string
	Addr  netip.Addr
	Addr6 netip.Addr // the same target over IPv6
	RTT   time.Duration
	Drop  float64
	Ports []uint16
}

// Lab is a running latency lab. Close it.
type Lab struct {
	logger    *slog.Logger
	block     int
	prefix    netip.Prefix
	prefix6   netip.Prefix
	hostAddr  netip.Addr
	hostAddr6 netip.Addr
	device    string
	endpoints []Endpoint

	lock      *os.File
	hostFd    int
	targetFd  int
	nsFd      int
	stopFd    int
	line      *line
	lineDone  chan struct{}
	listeners []net.Listener
	acceptWG  sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
}

// Available reports whether a lab can run here: nil when running as root with /dev/net/tun, network
// namespaces and iproute2's ip; otherwise the reason.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("lab needs root (CAP_NET_ADMIN) to create TUN devices and network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("lab needs iproute2's ip: %w", err)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("lab needs /dev/net/tun: %w", err)
	}
	unix.Close(fd)
	nsFd, err := inNewNetns(func() error { return nil })
	if err != nil {
		return fmt.Errorf("lab needs network namespaces: %w", err)
	}
	unix.Close(nsFd)
	return nil
}

// Start builds the lab and starts moving packets. It closes the lab when ctx ends.
func Start(ctx context.Context, cfg Config) (*Lab, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := Available(); err != nil {
		return nil, err
	}
	reserveProcs()
	if removed := cleanStale(ctx); len(removed) > 0 {
		cfg.Logger.Info("lab: removed stale devices", "removed", removed)
	}
	block, lock, err := claimBlock(ctx)
	if err != nil {
		return nil, err
	}
	return start(ctx, cfg, block, lock, "lab: started")
}

// StartPrivate is Start for a caller in a network namespace of its own, such as one remote vantage of a
// multi-vantage test: the lab always takes block 0 (198.18.0.0/22) without the machine-wide block lock
// and without cleaning other namespaces' devices, so several vantage namespaces each see the same target
// addresses, every one with its own delays. That is how the same target answers in 2 ms from one vantage
// and in 9 ms from another. The caller must own the namespace: nothing else may route the block there.
func StartPrivate(ctx context.Context, cfg Config) (*Lab, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := Available(); err != nil {
		return nil, err
	}
	reserveProcs()
	return start(ctx, cfg, 0, nil, "lab: started in a private namespace")
}

// start builds the lab on block (holding lock, if any) and closes it when ctx ends.
func start(ctx context.Context, cfg Config, block int, lock *os.File, started string) (*Lab, error) {
	l := &Lab{
		logger: cfg.Logger, block: block, lock: lock, prefix: blockPrefix(block), prefix6: blockPrefix6(block),
		hostFd: -1, targetFd: -1, nsFd: -1, stopFd: -1, closed: make(chan struct{}),
	}
	l.hostAddr = l.prefix.Addr().Next()
	l.hostAddr6 = addr6For(l.prefix, l.prefix6, l.hostAddr)
	l.device = fmt.Sprintf("%s%dh", devicePrefix, block)
	if err := l.build(ctx, cfg.Targets); err != nil {
		l.teardown()
		return nil, err
	}
	go func() {
		select {
		case <-ctx.Done():
			l.Close()
		case <-l.closed:
		}
	}()
	l.logger.Info(started, "prefix", l.prefix, "device", l.device, "targets", len(l.endpoints))
	return l, nil
}

func (l *Lab) build(ctx context.Context, targets []Target) error {
	index := make([]int32, 1<<(32-blockBits))
	for i := range index {
		index[i] = -1
	}
	delay := make([]int64, len(targets))
	dropPPM := make([]int64, len(targets))
	dropSYNs := make([]int, len(targets))
	dup := make([]bool, len(targets))
	addr := l.hostAddr
	var addrCmds, unreachCmds strings.Builder
	targetDev := fmt.Sprintf("%s%dt", devicePrefix, l.block)
	for i, t := range targets {
		addr = addr.Next()
		addr6 := addr6For(l.prefix, l.prefix6, addr)
		l.endpoints = append(l.endpoints, Endpoint{Name: t.Name, Addr: addr, Addr6: addr6, RTT: t.RTT, Drop: t.Drop, Ports: slices.Clone(t.Ports)})
		index[offset(l.prefix, addr)] = int32(i)
		delay[i] = int64(t.RTT / 2)
		dropPPM[i] = int64(t.Drop*dropScale + 0.5)
		dropSYNs[i] = t.DropSYNs
		dup[i] = t.DuplicateReplies
		if t.Unreachable {
			fmt.Fprintf(&unreachCmds, "route add unreachable %s/32\nroute add unreachable %s/128\n", addr, addr6)
		} else {
			// nodad: duplicate address detection would hold the address back for a second or more.
			fmt.Fprintf(&addrCmds, "addr add %s/32 dev %s\naddr add %s/128 dev %s nodad\n", addr, targetDev, addr6, targetDev)
		}
	}

	var err error
	if l.hostFd, err = openTUN(l.device); err != nil {
		return err
	}
	if err := quietIPv6(l.device); err != nil {
		return err
	}
	if err := runIP(ctx, "", "link", "set", "dev", l.device, "mtu", "1500", "txqueuelen", "10000", "up"); err != nil {
		return err
	}
	if err := runIP(ctx, "", "addr", "add", netip.PrefixFrom(l.hostAddr, blockBits).String(), "dev", l.device); err != nil {
		return err
	}
	if err := runIP(ctx, "", "addr", "add", netip.PrefixFrom(l.hostAddr6, 64).String(), "dev", l.device, "nodad"); err != nil {
		return err
	}

	l.nsFd, err = inNewNetns(func() error {
		var err error
		if l.targetFd, err = openTUN(targetDev); err != nil {
			return err
		}
		// ip started from this locked thread inherits its namespace.
		if err := runIP(ctx, "", "link", "set", "dev", "lo", "up"); err != nil {
			return err
		}
		if err := quietIPv6(targetDev); err != nil {
			return err
		}
		if err := runIP(ctx, "", "link", "set", "dev", targetDev, "mtu", "1500", "txqueuelen", "10000", "up"); err != nil {
			return err
		}
		if err := runIP(ctx, addrCmds.String(), "-batch", "-"); err != nil {
			return err
		}
		if err := runIP(ctx, "", "route", "add", "default", "dev", targetDev); err != nil {
			return err
		}
		if err := runIP(ctx, "", "-6", "route", "add", "default", "dev", targetDev); err != nil {
			return err
		}
		// Unreachable targets are answered with ICMP errors, which the kernel rate-limits per peer (one a
		// second after a burst of six); a test sends more. Net sysctls opened from this thread are the
		// namespace's own.
		if err := os.WriteFile("/proc/sys/net/ipv4/icmp_ratelimit", []byte("0"), 0o644); err != nil {
			return fmt.Errorf("lab: icmp_ratelimit: %w", err)
		}
		if err := os.WriteFile("/proc/sys/net/ipv6/icmp/ratelimit", []byte("0"), 0o644); err != nil {
			return fmt.Errorf("lab: ipv6 icmp ratelimit: %w", err)
		}
		if unreachCmds.Len() > 0 {
			// The kernel answers a packet for an address it has no route to with host unreachable only
			// when it forwards: a non-forwarding host drops it silently (ip_error).
			if err := os.WriteFile("/proc/sys/net/ipv4/conf/all/forwarding", []byte("1"), 0o644); err != nil {
				return fmt.Errorf("lab: forwarding: %w", err)
			}
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/all/forwarding", []byte("1"), 0o644); err != nil {
				return fmt.Errorf("lab: ipv6 forwarding: %w", err)
			}
			if err := runIP(ctx, unreachCmds.String(), "-batch", "-"); err != nil {
				return err
			}
		}
		// Sockets are bound to the namespace of the thread that creates them.
		var lc net.ListenConfig
		for _, ep := range l.endpoints {
			for _, p := range ep.Ports {
				for _, a := range []netip.Addr{ep.Addr, ep.Addr6} {
					ln, err := lc.Listen(ctx, "tcp", netip.AddrPortFrom(a, p).String())
					if err != nil {
						return fmt.Errorf("lab: listen on %s (%s) port %d: %w", ep.Name, a, p, err)
					}
					l.listeners = append(l.listeners, ln)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, ln := range l.listeners {
		l.acceptWG.Add(1)
		go func() {
			defer l.acceptWG.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return // closed
				}
				c.Close()
			}
		}()
	}

	if l.stopFd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	l.line = &line{
		host: l.hostFd, target: l.targetFd, stopFd: l.stopFd, prefix: l.prefix, prefix6: l.prefix6,
		index: index, delay: delay, dropPPM: dropPPM, dropSYNs: dropSYNs, dup: dup,
		acc: make([][numClasses]int64, len(targets)), logger: l.logger,
	}
	l.line.dirs[0].name, l.line.dirs[1].name = "to-target", "to-host"
	l.lineDone = make(chan struct{})
	go l.line.run(l.lineDone)
	return nil
}

// quietIPv6 keeps the kernel's own IPv6 traffic (router solicitations, duplicate address detection) off
// a lab device before it comes up; the delay line would discard it anyway.
func quietIPv6(dev string) error {
	for _, kv := range [][2]string{{"disable_ipv6", "0"}, {"accept_ra", "0"}, {"router_solicitations", "0"}, {"accept_dad", "0"}, {"dad_transmits", "0"}} {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+dev+"/"+kv[0], []byte(kv[1]), 0o644); err != nil {
			return fmt.Errorf("lab: %s %s: %w", dev, kv[0], err)
		}
	}
	return nil
}

// reserveProcs raises GOMAXPROCS to the CPU count plus two. The delay line's thread holds a P
// while it spins and while the runtime still counts them in ppoll; without spare Ps a prober in the same
// process (tests) waits for sysmon to retake one, which costs it up to milliseconds per reply. It is
// never lowered again: labs may overlap and the extra Ps cost nothing when idle.
func reserveProcs() {
	procsMu.Lock()
	defer procsMu.Unlock()
	if want := runtime.NumCPU() + 2; runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
	}
}

var procsMu sync.Mutex

// Endpoints lists the targets in configuration order with their addresses.
func (l *Lab) Endpoints() []Endpoint {
	out := make([]Endpoint, len(l.endpoints))
	for i, e := range l.endpoints {
		e.Ports = slices.Clone(e.Ports)
		out[i] = e
	}
	return out
}

// Prefix is the lab's address block, routed through Device.
func (l *Lab) Prefix() netip.Prefix { return l.prefix }

// Prefix6 is the lab's IPv6 block, routed through Device.
func (l *Lab) Prefix6() netip.Prefix { return l.prefix6 }

// HostAddr is the caller-side address of the lab device: the source address of probes.
func (l *Lab) HostAddr() netip.Addr { return l.hostAddr }

// Device is the name of the lab's TUN device in the caller's namespace.
func (l *Lab) Device() string { return l.device }

// Close stops the lab and removes its devices, routes, listeners and namespace. It is idempotent.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		l.closeErr = l.teardown()
		close(l.closed)
	})
	return l.closeErr
}

func (l *Lab) teardown() error {
	var errs []error
	if l.stopFd >= 0 {
		if l.line != nil {
			l.line.stopped.Store(true)
		}
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1) // eventfd takes a uint64 in host byte order
		if _, err := unix.Write(l.stopFd, one[:]); err != nil {
			errs = append(errs, fmt.Errorf("stop delay lines: %w", err))
		}
		if l.lineDone != nil {
			<-l.lineDone
		}
	}
	if l.line != nil && l.lineDone != nil {
		for i := range l.line.dirs {
			d := &l.line.dirs[i]
			l.logger.Info("lab: delay line stats", "direction", d.name, "forwarded", d.forwarded,
				"dropped", d.dropped, "foreign", d.foreign, "late_mean", time.Duration(d.late.mean()),
				"late_max", time.Duration(d.late.max), "late_over_50us", d.late.over50us, "late_over_200us", d.late.over200us)
		}
	}
	for _, ln := range l.listeners {
		ln.Close()
	}
	l.acceptWG.Wait()
	hostIndex := 0
	if ifi, err := net.InterfaceByName(l.device); err == nil && l.hostFd >= 0 {
		hostIndex = ifi.Index
	}
	for _, fd := range []*int{&l.hostFd, &l.targetFd, &l.nsFd, &l.stopFd} {
		if *fd >= 0 {
			if err := unix.Close(*fd); err != nil {
				errs = append(errs, err)
			}
			*fd = -1
		}
	}
	// The kernel unregisters a closed TUN device asynchronously, and with IPv6 on it the device can
	// linger while routes and neighbour entries let go of it: wait, so that Close means gone.
	for deadline := time.Now().Add(3 * time.Second); hostIndex != 0 && time.Now().Before(deadline); {
		if _, err := net.InterfaceByIndex(hostIndex); err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if l.lock != nil {
		l.lock.Close()
		l.lock = nil
	}
	return errors.Join(errs...)
}

// Stats reports what the delay lines did; valid after Close.
type Stats struct {
	Forwarded, Dropped, Foreign uint64        // packets moved, dropped on purpose, not lab traffic
	LateMean, LateMax           time.Duration // how late packets left relative to their due time
	LateOver50us, LateOver200us uint64
}

// Stats returns the per-direction counters: [0] towards the targets, [1] back to the host. Call it after
// Close; before, it returns nil.
func (l *Lab) Stats() []Stats {
	select {
	case <-l.closed:
	default:
		return nil
	}
	if l.line == nil {
		return nil
	}
	var out []Stats
	for i := range l.line.dirs {
		d := &l.line.dirs[i]
		out = append(out, Stats{d.forwarded, d.dropped, d.foreign, time.Duration(d.late.mean()), time.Duration(d.late.max), d.late.over50us, d.late.over200us})
	}
	return out
}

func (l *lateness) mean() int64 {
	if l.n == 0 {
		return 0
	}
	return l.sum / int64(l.n)
}
