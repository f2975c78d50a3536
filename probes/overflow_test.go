package probes

import (
	"bufio"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests run the sweep in a child process (this test binary) in a network namespace of its own, so
// the raw ICMP socket sees no one else's traffic and the namespace's kernel counters are the sweep's
// alone. Targets are 127.0.0.0/8 addresses, all local on the namespace's lo.

const netnsChildEnv = "VARDE_PROBES_NETNS_CHILD"

// inFreshNetns reports whether the test is running in its child; otherwise it runs the child in a new
// network namespace, relays its output and fails when the child does.
func inFreshNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsChildEnv) == t.Name() {
		loopbackUp(t)
		return true
	}
	needRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), netnsChildEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "overflow_test.go") || strings.HasPrefix(l, "watch_test.go") {
			t.Log("child: " + strings.TrimSpace(line))
		}
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("child in its own network namespace: %v\n%s", err, out)
	}
	return false
}

func loopbackUp(t *testing.T) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		t.Fatalf("lo flags: %v", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		t.Fatalf("lo up: %v", err)
	}
}

// icmpCounters reads the Icmp line of /proc/net/snmp (this process's namespace), as nstat does.
func icmpCounters(t *testing.T) map[string]int64 {
	t.Helper()
	f, err := os.Open("/proc/net/snmp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var head []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "Icmp:" {
			continue
		}
		if head == nil {
			head = fields[1:]
			continue
		}
		m := map[string]int64{}
		for i, v := range fields[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			m[head[i]] = n
		}
		return m
	}
	t.Fatal("/proc/net/snmp: no Icmp counters")
	return nil
}

func loopbackTargets(t *testing.T, n int) []Target {
	t.Helper()
	out := make([]Target, n)
	a := netip.MustParseAddr("127.1.0.1")
	for i := range out {
		out[i] = mustTarget(t, a.String())
		a = a.Next()
	}
	return out
}

// TestSweepICMP10kLoopbackNoFalseLoss is issue 12's scale case: 10,000 targets, 2 echoes at 100 ms.
// Every echo is answered by the namespace's kernel (its IcmpInEchoReps counts them), so any loss the
// sweep reports is false. It reported 50% on thousands of targets when the shared socket's receive
// buffer was not sized for the sweep.
func TestSweepICMP10kLoopbackNoFalseLoss(t *testing.T) {
	if !inFreshNetns(t) {
		return
	}
	const n, count = 10_000, 2
	before := icmpCounters(t)
	cfg := Config{ICMP: true, Count: count, Interval: 100 * time.Millisecond, Timeout: time.Second}
	start := time.Now()
	res, err := Sweep(context.Background(), cfg, loopbackTargets(t, n))
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	after := icmpCounters(t)
	var received, errs, lossy int
	for _, r := range res {
		received += r.Stats.Received
		errs += r.Stats.Errors
		if r.Stats.LossPct != 0 {
			lossy++
			if lossy <= 5 {
				t.Errorf("%s: %.0f%% loss (%s), failure %q", r.Target, r.Stats.LossPct, r.Err, r.Failure)
			}
		}
	}
	kernelReplies := after["InEchoReps"] - before["InEchoReps"]
	t.Logf("%d targets × %d echoes in %v: received %d, measurement errors %d, targets with loss %d; kernel IcmpInEchoReps +%d, IcmpInErrors +%d",
		n, count, took.Round(time.Millisecond), received, errs, lossy, kernelReplies, after["InErrors"]-before["InErrors"])
	if kernelReplies != n*count {
		t.Errorf("kernel counted %d echo replies, want %d: the namespace is not the quiet loopback this test assumes", kernelReplies, n*count)
	}
	// The buffer is sized for every reply outstanding at once, so nothing should even be unjudged.
	if received != n*count || errs != 0 || lossy != 0 {
		t.Errorf("received %d of %d (%d measurement errors, %d targets with loss)", received, n*count, errs, lossy)
	}
}

// TestSweepICMPOverflowIsAnErrorNotLoss forces the receive buffer to overflow (the smallest buffer the
// kernel allows, 1,000 echoes sent in one burst) and checks that echoes whose replies the kernel dropped
// on our socket are measurement errors naming the cause, with no loss claimed: the namespace's kernel
// counted a reply to every echo.
func TestSweepICMPOverflowIsAnErrorNotLoss(t *testing.T) {
	if !inFreshNetns(t) {
		return
	}
	const n = 1000
	before := icmpCounters(t)
	cfg := Config{ICMP: true, Count: 1, Interval: time.Millisecond, Timeout: 200 * time.Millisecond, ICMPReceiveBuffer: 1}
	res, err := Sweep(context.Background(), cfg, loopbackTargets(t, n))
	if err != nil {
		t.Fatal(err)
	}
	after := icmpCounters(t)
	var received, overflowed int
	for _, r := range res {
		received += r.Stats.Received
		overflowed += r.Stats.Errors
		if r.Stats.LossPct != 0 {
			t.Errorf("%s: %.0f%% loss claimed (failure %q: %s)", r.Target, r.Stats.LossPct, r.Failure, r.Err)
		}
		for _, s := range r.Samples {
			if !s.Received && s.Failure != FailOverflow {
				t.Errorf("%s seq %d: failure %q, want %q", r.Target, s.Seq, s.Failure, FailOverflow)
			}
		}
		if r.Stats.Errors > 0 {
			if r.Failure != FailOverflow || !strings.Contains(r.Err, "receive buffer") || !strings.Contains(r.Err, "not loss") {
				t.Errorf("%s: failure %q, error %q; want overflow named as a measurement error", r.Target, r.Failure, r.Err)
			}
		}
	}
	kernelReplies := after["InEchoReps"] - before["InEchoReps"]
	t.Logf("%d echoes in a burst into a minimal buffer: received %d, overflow errors %d; kernel IcmpInEchoReps +%d",
		n, received, overflowed, kernelReplies)
	if kernelReplies != n {
		t.Errorf("kernel counted %d echo replies, want %d", kernelReplies, n)
	}
	if overflowed == 0 {
		t.Fatal("no overflow: the test did not force what it is for")
	}
	if received+overflowed != n {
		t.Errorf("received %d + overflow %d != %d echoes", received, overflowed, n)
	}
}

// TestOverflowLogWindows: drops counted between two readings are placed between them, readings of
// packets queued before the latest getsockopt (smaller counts) change nothing, and an echo is unjudged
// only when its reply was due inside a window.
func TestOverflowLogWindows(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var o overflowLog
	o.start(at(0))
	o.saw(0, at(10), true)
	o.saw(3, at(20), true)  // drops in (10, 20]
	o.saw(3, at(30), true)  // none new
	o.saw(5, at(40), false) // drops in (30, 40], upper bound only
	o.saw(9, at(50), true)  // merges: since stayed at 30
	o.saw(7, at(45), true)  // a packet queued before the last reading: older count, nothing new
	if o.total != 9 || len(o.windows) != 2 {
		t.Fatalf("total %d, windows %v", o.total, o.windows)
	}
	for _, tc := range []struct {
		from, to int
		want     bool
	}{{0, 10, false}, {0, 11, true}, {20, 30, false}, {25, 35, true}, {50, 60, false}, {15, 16, true}} {
		if got := o.overlaps(at(tc.from), at(tc.to)); got != tc.want {
			t.Errorf("overlaps(%d, %d ms) = %v, want %v (windows %v)", tc.from, tc.to, got, tc.want, o.windows)
		}
	}
}

func TestRcvbufFor(t *testing.T) {
	t.Parallel()
	var jobs []job
	for i := range 3000 { // 1,000 targets, 3 echoes 500 ms apart, 0.5 ms stagger
		jobs = append(jobs, job{at: time.Duration(i/1000)*500*time.Millisecond + time.Duration(i%1000)*500*time.Microsecond})
	}
	// A 1 s window holds two rounds and the first echo of the next (sent at 0 and at 1,000 ms).
	if got, want := rcvbufFor(jobs, time.Second), 2001*replyTruesize; got != want {
		t.Errorf("rcvbufFor = %d, want %d", got, want)
	}
	if got, want := rcvbufFor(jobs, 100*time.Millisecond), 201*replyTruesize; got != want {
		t.Errorf("rcvbufFor 100ms = %d, want %d", got, want)
	}
	if got := rcvbufFor(jobs[:1], time.Second); got != minRcvbuf {
		t.Errorf("one echo: %d, want the floor %d", got, minRcvbuf)
	}
}
