//go:build linux

package lab

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// needLab skips (outside CI) or fails (CI=true) when the lab cannot run here.
func needLab(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("lab test needs root in CI: %v", err)
		}
		t.Skipf("lab not available: %v", err)
	}
}

func startLab(t *testing.T, targets ...Target) *Lab {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l, err := Start(ctx, Config{Targets: targets})
	if err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		cancel()
	})
	return l
}

var pingTime = regexp.MustCompile(`icmp_seq=(\d+) .*time=([0-9.]+) ms`)
var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// echo is one reply ping printed.
type echo struct {
	seq uint16
	rtt float64 // ms
}

func ping(t *testing.T, addr netip.Addr, count int) (echoes []echo, sent, received int) {
	t.Helper()
	out, err := exec.Command("ping", "-n", "-c", strconv.Itoa(count), "-i", "0.01", "-W", "2", addr.String()).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "packets transmitted") {
		t.Fatalf("ping %s: %v: %s", addr, err, out)
	}
	for _, m := range pingTime.FindAllStringSubmatch(string(out), -1) {
		seq, _ := strconv.ParseUint(m[1], 10, 16)
		v, _ := strconv.ParseFloat(m[2], 64)
		echoes = append(echoes, echo{uint16(seq), v})
	}
	m := pingSummary.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("ping %s: no summary in output:\n%s", addr, out)
	}
	sent, _ = strconv.Atoi(m[1])
	received, _ = strconv.Atoi(m[2])
	return echoes, sent, received
}

// TestIPv6 pings a target over IPv6 and connects to it over TCP/IPv6: the lab delays both families and
// records the exchanges under the IPv6 address.
func TestIPv6(t *testing.T) {
	needLab(t)
	l := startLab(t, Target{Name: "v6", RTT: 10 * time.Millisecond, Ports: []uint16{80}})
	ep := l.Endpoints()[0]
	echoes, sent, received := ping(t, ep.Addr6, 10)
	if received != sent || sent != 10 {
		t.Fatalf("ping %s: %d of %d received", ep.Addr6, received, sent)
	}
	start := time.Now()
	c, err := net.DialTimeout("tcp6", netip.AddrPortFrom(ep.Addr6, 80).String(), 2*time.Second)
	if err != nil {
		t.Fatalf("tcp6: %v", err)
	}
	c.Close()
	xs, overflow := l.Exchanges()
	if overflow != 0 {
		t.Fatalf("transit log overflowed by %d", overflow)
	}
	var errs []float64
	for _, e := range echoes {
		x, ok := xs.Echo(ep.Addr6, e.seq)
		if !ok {
			t.Fatalf("icmp_seq %d: no single echo recorded for %s", e.seq, ep.Addr6)
		}
		errs = append(errs, e.rtt-ms(x.Given()))
	}
	if got := median(errs); math.Abs(got) > 0.5 {
		t.Errorf("ping6 median error %.3f ms against the RTT the lab gave", got)
	}
	x, ok := xs.After(ExchangeHandshake, ep.Addr6, start)
	if !ok || x.Given() < ep.RTT {
		t.Errorf("handshake over IPv6: recorded %v, given %v, want at least %v", ok, x.Given(), ep.RTT)
	}
	if _, ok := xs.Echo(ep.Addr, echoes[0].seq); ok {
		t.Errorf("an IPv6 echo was recorded under the IPv4 address %s", ep.Addr)
	}
}

// pingJudged pings ep and returns each reply's error against the RTT the lab gave that echo, and how late
// the lab was, in ms. Every reply must match exactly one echo the lab carried to ep's address.
func pingJudged(t *testing.T, l *Lab, ep Endpoint, count int) (errs, late []float64, sent, received int) {
	t.Helper()
	echoes, sent, received := ping(t, ep.Addr, count)
	xs, overflow := l.Exchanges()
	if overflow != 0 {
		t.Fatalf("transit log overflowed by %d packets", overflow)
	}
	for _, e := range echoes {
		x, ok := xs.Echo(ep.Addr, e.seq)
		if !ok {
			t.Fatalf("%s icmp_seq %d: the lab recorded no single echo with that sequence number", ep.Name, e.seq)
		}
		if x.Nominal != ep.RTT || x.Name != ep.Name {
			t.Fatalf("%s icmp_seq %d: carried as %s with nominal %v", ep.Name, e.seq, x.Name, x.Nominal)
		}
		errs, late = append(errs, e.rtt-ms(x.Given())), append(late, ms(x.Late()))
	}
	return errs, late, sent, received
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// TestRTT checks the lab against system tools. Each echo and handshake is judged against the RTT the lab
// really gave it (Exchanges): ping's and TCP connect's median error is within 0.5 ms, with no loss when no
// drop is configured. How late the lab itself was against the configured RTT is logged beside it: on a
// busy machine the delay line is late, and that must not read as the tools being wrong. The lab is never
// early: no exchange is given less than the configured RTT.
func TestRTT(t *testing.T) {
	t.Parallel()
	needLab(t)
	l := startLab(t,
		Target{Name: "oslo-nix", RTT: 2 * time.Millisecond, Ports: []uint16{443}},
		Target{Name: "frankfurt", RTT: 25 * time.Millisecond, Ports: []uint16{443}},
		Target{Name: "us-east", RTT: 95 * time.Millisecond, Ports: []uint16{443, 22}},
	)
	for _, ep := range l.Endpoints() {
		t.Run(ep.Name, func(t *testing.T) {
			t.Parallel()
			pingErr, pingLate, sent, received := pingJudged(t, l, ep, 40)
			if received != sent || sent != 40 {
				t.Errorf("icmp: %d sent, %d received; want 40 and no loss", sent, received)
			}
			// The handshake is judged by the kernel's own SYN → SYN-ACK sample (tcpi_rtt), like ping's kernel
			// receive time stamps: the connect() wall time on a loaded machine also carries the wait for a
			// CPU after the SYN-ACK, which says nothing about the lab. The wall time is logged beside it.
			var tcpErr, tcpLate, wallErr []float64
			for i := range 9 {
				start := time.Now()
				wall, kernel, err := connectTime(ep.Addr, ep.Ports[0])
				if err != nil {
					t.Fatalf("tcp connect: %v", err)
				}
				xs, _ := l.Exchanges()
				x, ok := xs.After(ExchangeHandshake, ep.Addr, start)
				if !ok {
					t.Fatalf("connect %d: the lab recorded no handshake after its start", i)
				}
				tcpErr, tcpLate = append(tcpErr, ms(kernel-x.Given())), append(tcpLate, ms(x.Late()))
				wallErr = append(wallErr, ms(wall-x.Given()))
			}
			t.Logf("tcp connect() wall time: median error %+.3f ms, max %+.3f ms against the RTT the lab gave", median(wallErr), slices.Max(wallErr))
			for _, c := range []struct {
				tool      string
				err, late []float64
			}{{"ping", pingErr, pingLate}, {"tcp handshake (tcpi_rtt)", tcpErr, tcpLate}} {
				t.Logf("%s: median error %+.3f ms against the RTT the lab gave; lab late by median %.3f ms, max %.3f ms (nominal %.3f ms)",
					c.tool, median(c.err), median(c.late), slices.Max(c.late), ms(ep.RTT))
				if got := median(c.err); math.Abs(got) > 0.5 {
					t.Errorf("%s: median error %.3f ms against the RTT the lab gave, want within 0.5 ms (%v)", c.tool, got, c.err)
				}
				if early := slices.Min(c.late); early < 0 {
					t.Errorf("%s: the lab gave an exchange %.3f ms less than the configured RTT", c.tool, -early)
				}
			}
		})
	}
}

// connectTime makes one blocking connect(2) to addr:port and returns its wall time and the kernel's
// SYN → SYN-ACK sample (tcpi_rtt, µs resolution), read right after. A plain blocking syscall on a locked
// thread keeps Go's netpoller and scheduler out of the wall time.
func connectTime(addr netip.Addr, port uint16) (wall, kernel time.Duration, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, 0, err
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(int64(2 * time.Second))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	err = unix.Connect(fd, &unix.SockaddrInet4{Port: int(port), Addr: addr.As4()})
	wall = time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("connect %v port %d: %w", addr, port, err)
	}
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0, 0, fmt.Errorf("TCP_INFO after connect to %v port %d: %w", addr, port, err)
	}
	if info.Total_retrans > 0 {
		return 0, 0, fmt.Errorf("connect %v port %d: SYN retransmitted on a lossless lab link", addr, port)
	}
	return wall, time.Duration(info.Rtt) * time.Microsecond, nil
}

// TestClosedPortRefused checks that ports without a listener answer with a reset, as a real host does.
func TestClosedPortRefused(t *testing.T) {
	t.Parallel()
	needLab(t)
	l := startLab(t, Target{Name: "a", RTT: 4 * time.Millisecond, Ports: []uint16{80}})
	ep := l.Endpoints()[0]
	_, err := net.DialTimeout("tcp4", netip.AddrPortFrom(ep.Addr, 81).String(), 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("dial closed port: got %v, want connection refused", err)
	}
}

// TestDrop checks the drop fraction over 300 echoes: error diffusion makes it exact.
func TestDrop(t *testing.T) {
	t.Parallel()
	needLab(t)
	l := startLab(t, Target{Name: "lossy", RTT: 2 * time.Millisecond, Drop: 0.1})
	_, sent, received := ping(t, l.Endpoints()[0].Addr, 300)
	loss := 100 * float64(sent-received) / float64(sent)
	if sent != 300 || math.Abs(loss-10) > 3 {
		t.Fatalf("%d sent, %d received: loss %.1f%%, want 10%% ± 3", sent, received, loss)
	}
	if loss != 10 {
		t.Logf("loss %.2f%% (error diffusion should make it exactly 10%%)", loss)
	}
}

// ifIndex is the interface index of a device, 0 if there is none. Tests compare indexes, not names: a
// lab started by a parallel test may reuse a freed block and with it the device name.
func ifIndex(t *testing.T, name string) int {
	t.Helper()
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0
	}
	return ifi.Index
}

// indexExists reports whether an interface with index idx exists; indexes are not reused soon.
func indexExists(idx int) bool {
	_, err := net.InterfaceByIndex(idx)
	return err == nil
}

// netnsHeld reports whether any process still holds the network namespace with inode ino.
func netnsHeld(ino uint64) bool { return len(netnsHolders(ino)) > 0 }

// netnsHolders names the threads and file descriptors that hold namespace ino, with their commands.
func netnsHolders(ino uint64) []string {
	want := fmt.Sprintf("net:[%d]", ino)
	paths, _ := filepath.Glob("/proc/[0-9]*/task/[0-9]*/ns/net")
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	var out []string
	for _, p := range append(paths, fds...) {
		if s, err := os.Readlink(p); err == nil && s == want {
			pid := strings.Split(p, "/")[2]
			comm, _ := os.ReadFile("/proc/" + pid + "/comm")
			out = append(out, p+" ("+strings.TrimSpace(string(comm))+")")
		}
	}
	return out
}

// TestCleanup checks that Close leaves no device, route, listener or namespace behind.
func TestCleanup(t *testing.T) {
	t.Parallel()
	needLab(t)
	l, err := Start(context.Background(), Config{Targets: []Target{{Name: "a", RTT: time.Millisecond, Ports: []uint16{80}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var st unix.Stat_t
	if err := unix.Fstat(l.nsFd, &st); err != nil {
		t.Fatal(err)
	}
	idx := ifIndex(t, l.Device())
	if idx == 0 || !netnsHeld(st.Ino) {
		t.Fatalf("lab not up: device %s or namespace missing", l.Device())
	}
	routes := func() string {
		out, _ := exec.Command("ip", "-4", "-d", "route", "show", "table", "all").Output()
		return string(out)
	}
	if !strings.Contains(routes(), "dev "+l.Device()) {
		t.Fatalf("no route via %s while the lab runs", l.Device())
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Closing the last fd of a TUN unregisters it, but the kernel frees the device only once every reference
	// (a route, a socket's cached route) is gone, which on a busy machine can take past Close's return.
	gone := time.Now().Add(2 * time.Second)
	for indexExists(idx) && time.Now().Before(gone) {
		time.Sleep(20 * time.Millisecond)
	}
	if indexExists(idx) {
		t.Errorf("device %s (index %d) still exists 2 s after Close", l.Device(), idx)
	}
	// Routes hang on the device; if a parallel lab took the block again, its device has a new index.
	if ifIndex(t, l.Device()) == 0 && strings.Contains(routes(), "dev "+l.Device()) {
		t.Errorf("route via %s left after Close:\n%s", l.Device(), routes())
	}
	// A thread that was locked into the namespace exits after its goroutine, asynchronously; on a loaded
	// machine that can take a while. A leak holds it for good, and the holders are named.
	deadline := time.Now().Add(5 * time.Second)
	for netnsHeld(st.Ino) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if h := netnsHolders(st.Ino); len(h) > 0 {
		t.Errorf("target namespace net:[%d] still held 5 s after Close, by %v", st.Ino, h)
	}
}

// TestCleanupOnContext checks that ending Start's context closes the lab.
func TestCleanupOnContext(t *testing.T) {
	t.Parallel()
	needLab(t)
	ctx, cancel := context.WithCancel(context.Background())
	l, err := Start(ctx, Config{Targets: []Target{{Name: "a", RTT: time.Millisecond}}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	idx := ifIndex(t, l.Device())
	cancel()
	select {
	case <-l.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("lab not closed 5 s after its context ended")
	}
	if idx == 0 || indexExists(idx) {
		t.Errorf("device %s (index %d) missing before or still there after context end", l.Device(), idx)
	}
}

// TestHelperChild is not a test: TestCleanupOnSignal runs the test binary with it as a child that
// starts a lab, prints its device name and waits to be killed.
func TestHelperChild(t *testing.T) {
	if os.Getenv("VARDE_LAB_CHILD") != "1" {
		t.Skip("helper process for TestCleanupOnSignal")
	}
	l, err := Start(context.Background(), Config{Targets: []Target{{Name: "a", RTT: time.Millisecond, Ports: []uint16{80}}}})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	// A shell that starts go test in the background ignores SIGINT for it, and Go keeps inherited
	// ignores; Notify takes SIGINT back so the child always dies of it, without calling Close.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	fmt.Println("DEVICE", l.Device())
	select {
	case <-sigs:
		os.Exit(130)
	case <-time.After(time.Minute):
		os.Exit(3)
	}
}

// TestCleanupOnSignal kills a process holding a lab with SIGINT and with SIGKILL: the kernel removes the
// lab's devices with the process because they hang on its descriptors.
func TestCleanupOnSignal(t *testing.T) {
	t.Parallel()
	needLab(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "VARDE_LAB_CHILD=1")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill() })
			sc := bufio.NewScanner(stdout)
			var dev string
			for sc.Scan() {
				if d, ok := strings.CutPrefix(sc.Text(), "DEVICE "); ok {
					dev = d
					break
				}
			}
			if dev == "" {
				t.Fatal("child printed no device")
			}
			idx := ifIndex(t, dev)
			if idx == 0 {
				t.Fatalf("child's device %s does not exist", dev)
			}
			cmd.Process.Signal(sig)
			waited := make(chan struct{})
			go func() { cmd.Wait(); close(waited) }()
			select {
			case <-waited:
			case <-time.After(10 * time.Second):
				t.Fatalf("child still alive 10 s after %v", sig)
			}
			deadline := time.Now().Add(3 * time.Second)
			for indexExists(idx) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if indexExists(idx) {
				t.Errorf("device %s survives the %v of its process", dev, sig)
			}
		})
	}
}

// TestStaleCleanup plants a persistent TUN with a lab name whose block nobody holds and checks Start removes it.
func TestStaleCleanup(t *testing.T) {
	needLab(t) // not parallel: it takes a block lock briefly
	n := -1
	for i := numBlocks - 1; i >= 0; i-- {
		f, ok, err := tryLock(i)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			f.Close()
			n = i
			break
		}
	}
	if n < 0 {
		t.Skip("no free block")
	}
	name := fmt.Sprintf("%s%dh", devicePrefix, n)
	if out, err := exec.Command("ip", "tuntap", "add", "dev", name, "mode", "tun").CombinedOutput(); err != nil {
		t.Skipf("cannot plant a persistent TUN: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
	idx := ifIndex(t, name)
	startLab(t, Target{Name: "a", RTT: time.Millisecond})
	if idx == 0 || indexExists(idx) {
		t.Errorf("stale device %s not removed by Start", name)
	}
}

// TestParallelLabs checks two labs in one process get distinct blocks and devices and both work.
func TestParallelLabs(t *testing.T) {
	t.Parallel()
	needLab(t)
	a := startLab(t, Target{Name: "a", RTT: 3 * time.Millisecond})
	b := startLab(t, Target{Name: "a", RTT: 7 * time.Millisecond})
	if a.Prefix().Overlaps(b.Prefix()) || a.Device() == b.Device() {
		t.Fatalf("labs clash: %v %s and %v %s", a.Prefix(), a.Device(), b.Prefix(), b.Device())
	}
	for _, l := range []*Lab{a, b} {
		ep := l.Endpoints()[0]
		errs, late, _, received := pingJudged(t, l, ep, 10)
		t.Logf("%v: median error %+.3f ms against the RTT the lab gave, lab late by median %.3f ms", ep.Addr, median(errs), median(late))
		if received == 0 || math.Abs(median(errs)) > 0.5 {
			t.Errorf("%v: received %d, median error %.3f ms against the RTT the lab gave (nominal %.3f ms)", ep.Addr, received, median(errs), ms(ep.RTT))
		}
	}
}

// TestThousandTargets checks a full-size lab: every target answers with its own RTT.
func TestThousandTargets(t *testing.T) {
	t.Parallel()
	needLab(t)
	var targets []Target
	for i := range 1000 {
		targets = append(targets, Target{Name: fmt.Sprintf("t%04d", i), RTT: time.Duration(1+i%99) * time.Millisecond, Ports: []uint16{80}})
	}
	l := startLab(t, targets...)
	eps := l.Endpoints()
	if len(eps) != 1000 {
		t.Fatalf("%d endpoints, want 1000", len(eps))
	}
	seen := map[netip.Addr]bool{}
	for _, ep := range eps {
		if seen[ep.Addr] || !l.Prefix().Contains(ep.Addr) || !labRange.Contains(ep.Addr) {
			t.Fatalf("endpoint %s: address %v duplicate or outside %v", ep.Name, ep.Addr, l.Prefix())
		}
		if seen[ep.Addr6] || !l.Prefix6().Contains(ep.Addr6) || !labRange6.Contains(ep.Addr6) {
			t.Fatalf("endpoint %s: IPv6 address %v duplicate or outside %v", ep.Name, ep.Addr6, l.Prefix6())
		}
		seen[ep.Addr], seen[ep.Addr6] = true, true
	}
	for _, i := range []int{0, 499, 999} {
		ep := eps[i]
		errs, late, _, _ := pingJudged(t, l, ep, 5)
		if got := median(errs); math.Abs(got) > 0.5 {
			t.Errorf("%s: median error %.3f ms against the RTT the lab gave (lab late by %v ms, nominal %.3f)", ep.Name, got, late, ms(ep.RTT))
		}
		c, err := net.DialTimeout("tcp4", netip.AddrPortFrom(ep.Addr, 80).String(), 2*time.Second)
		if err != nil {
			t.Errorf("%s: tcp: %v", ep.Name, err)
		} else {
			c.Close()
		}
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"empty", Config{}, "no targets"},
		{"noname", Config{Targets: []Target{{RTT: time.Millisecond}}}, "target 0: empty name"},
		{"dup", Config{Targets: []Target{{Name: "a"}, {Name: "a"}}}, `target 1 ("a"): name already used by target 0`},
		{"rtt", Config{Targets: []Target{{Name: "a", RTT: -time.Millisecond}}}, "RTT -1ms out of range"},
		{"drop", Config{Targets: []Target{{Name: "a", Drop: 1.5}}}, "drop 1.5 out of range"},
		{"nan", Config{Targets: []Target{{Name: "a", Drop: math.NaN()}}}, "drop NaN out of range"},
		{"port0", Config{Targets: []Target{{Name: "a", Ports: []uint16{0}}}}, "port 0 out of range"},
		{"portdup", Config{Targets: []Target{{Name: "a", Ports: []uint16{80, 80}}}}, "port 80 listed twice"},
		{"many", Config{Targets: make([]Target, MaxTargets+1)}, "1022 targets, at most 1021"},
		{"dropsyns", Config{Targets: []Target{{Name: "a", DropSYNs: -1}}}, "drop SYNs -1: must not be negative"},
		{"unreachports", Config{Targets: []Target{{Name: "a", Unreachable: true, Ports: []uint16{80}}}}, "an unreachable target has no listeners"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Start(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start: got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestDropDeterministic(t *testing.T) {
	t.Parallel()
	// The accumulator alone, without devices: 10% of 300 packets is exactly 30.
	d := &line{prefix: blockPrefix(0), index: make([]int32, 1024), delay: []int64{0},
		dropPPM: []int64{100_000}, acc: make([][numClasses]int64, 1)}
	for i := range d.index {
		d.index[i] = -1
	}
	d.index[2] = 0
	pkt := make([]byte, 28)
	pkt[0], pkt[9] = 0x45, unix.IPPROTO_ICMP
	copy(pkt[16:20], []byte{198, 18, 0, 2})
	for range 300 {
		d.accept(pkt, 0, 0)
	}
	if d.dirs[0].dropped != 30 || len(d.h) != 270 {
		t.Fatalf("dropped %d, queued %d; want 30 and 270", d.dirs[0].dropped, len(d.h))
	}
}
