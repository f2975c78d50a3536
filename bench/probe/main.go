//go:build linux

// Command probe benchmarks `varde probe` against fping over a latency lab of 1,000 targets whose true
// RTTs are spread over 1–100 ms. Both tools run as subprocesses in the same run against the same lab;
// it prints wall time, CPU seconds, peak RSS and, across targets, the median and p99 of
// |measured median − given median|, side by side with the ratios varde/fping. "Given" is the RTT the lab
// really gave each echo or handshake during that tool's run (lab.Exchanges); how late the lab was against
// the configured (nominal) RTT is printed beside it, so a busy machine shows as a late lab, not as a tool
// that measures wrong. Run it through bench/probe/run.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/varde/varde/probes/lab"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench/probe:", err)
		os.Exit(1)
	}
}

type options struct {
	varde    string
	fping    string
	targets  int
	count    int
	tcpCount int
	port     uint16
	minRTT   time.Duration
	maxRTT   time.Duration
	extraArg string
	cFloor   string // bench/probe/floor/tcpfloor, built by run; empty skips it
	engine   string // bench/probe/engine, built by run; empty skips it
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("bench/probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.varde, "varde", "bin/varde", "varde binary")
	fs.StringVar(&o.fping, "fping", "fping", "fping binary")
	fs.IntVar(&o.targets, "targets", 1000, "number of lab targets")
	fs.IntVar(&o.count, "count", 5, "echoes per target")
	fs.IntVar(&o.tcpCount, "tcp-count", 3, "TCP handshakes per target (varde only; fping has no TCP)")
	port := fs.Uint("port", 443, "TCP port with a listener on every target")
	fs.DurationVar(&o.minRTT, "min-rtt", time.Millisecond, "smallest true RTT")
	fs.DurationVar(&o.maxRTT, "max-rtt", 100*time.Millisecond, "largest true RTT")
	fs.StringVar(&o.extraArg, "varde-args", "", "extra arguments for varde probe, space separated")
	fpingExtra := fs.String("fping-args", "", "extra arguments for fping, space separated (e.g. \"-i 1\" to pace it like varde)")
	half6 := fs.Bool("ipv6", false, "probe every second target by its IPv6 address (half the targets over IPv6; one fping run takes both families)")
	fs.StringVar(&o.cFloor, "c-floor", "", "tcpfloor binary (bench/probe/floor/tcpfloor.c): the TCP handshakes alone in minimal C, for the kernel's share of the CPU")
	fs.StringVar(&o.engine, "engine", "", "engine binary (./bench/probe/engine): varde's probe engine alone in a minimal Go binary, for its own peak RSS")
	hold := fs.Bool("hold", false, "only start the lab, print the targets file and wait for SIGINT (manual runs, demos)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *port == 0 || *port > 65535 {
		return fmt.Errorf("-port %d out of range [1, 65535]", *port)
	}
	o.port = uint16(*port)
	if o.targets < 1 || o.count < 1 || o.tcpCount < 1 {
		return fmt.Errorf("-targets, -count and -tcp-count must be positive")
	}

	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	targets := make([]lab.Target, o.targets)
	for i := range targets {
		// Evenly spread, at microsecond resolution so truths are not all whole milliseconds.
		rtt := o.minRTT
		if o.targets > 1 {
			rtt += time.Duration(int64(o.maxRTT-o.minRTT) * int64(i) / int64(o.targets-1)).Truncate(time.Microsecond)
		}
		targets[i] = lab.Target{Name: fmt.Sprintf("t%04d", i), RTT: rtt, Ports: []uint16{o.port}}
	}
	l, err := lab.Start(ctx, lab.Config{Targets: targets, Logger: logger})
	if err != nil {
		return fmt.Errorf("start lab: %w", err)
	}
	defer l.Close()
	eps := l.Endpoints()
	dir, err := os.MkdirTemp("", "varde-bench-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "targets.txt")
	var list strings.Builder
	families := "IPv4"
	if *half6 {
		families = "half IPv4, half IPv6 (" + l.Prefix6().String() + ")"
	}
	for i, ep := range eps {
		if *half6 && i%2 == 1 {
			fmt.Fprintln(&list, ep.Addr6)
			continue
		}
		fmt.Fprintln(&list, ep.Addr)
	}
	if err := os.WriteFile(file, []byte(list.String()), 0o644); err != nil {
		return err
	}

	if *hold {
		fmt.Fprintf(stdout, "lab up: %d targets in %s (file %s); SIGINT ends it\n", len(eps), l.Prefix(), file)
		<-ctx.Done()
		return nil
	}

	vardeArgs := []string{"probe", "--icmp", "--tcp", strconv.Itoa(int(o.port)), "--count", strconv.Itoa(o.count),
		"--tcp-count", strconv.Itoa(o.tcpCount), "--json", "--targets", file}
	if o.extraArg != "" {
		vardeArgs = append(vardeArgs, strings.Fields(o.extraArg)...)
	}
	fmt.Fprintf(stderr, "running: %s %s\n", o.varde, strings.Join(vardeArgs, " "))
	vStart := time.Now()
	vr, err := measure(ctx, o.varde, vardeArgs...)
	vEnd := time.Now()
	if err != nil {
		return fmt.Errorf("varde: %w", err)
	}
	vICMP, vTCP, err := parseVarde(vr.stdout)
	if err != nil {
		return fmt.Errorf("varde output: %w", err)
	}

	fpingArgs := []string{"-C", strconv.Itoa(o.count), "-q", "-f", file}
	if *fpingExtra != "" {
		fpingArgs = append(fpingArgs, strings.Fields(*fpingExtra)...)
	}
	fmt.Fprintf(stderr, "running: %s %s\n", o.fping, strings.Join(fpingArgs, " "))
	fStart := time.Now()
	fr, err := measure(ctx, o.fping, fpingArgs...)
	fEnd := time.Now()
	if err != nil {
		var ee *exec.ExitError
		// fping exits 1 when some target did not answer: still a measurement.
		if !errors.As(err, &ee) || ee.ExitCode() > 1 {
			return fmt.Errorf("fping: %w: %s", err, fr.stderr)
		}
	}
	fICMP, err := parseFping(fr.stderr)
	if err != nil {
		return fmt.Errorf("fping output: %w", err)
	}
	// The same ICMP work as fping, without the TCP handshakes, for a like-for-like cost.
	icmpOnlyArgs := []string{"probe", "--icmp", "--count", strconv.Itoa(o.count), "--json", "--targets", file}
	if o.extraArg != "" {
		icmpOnlyArgs = append(icmpOnlyArgs, strings.Fields(o.extraArg)...)
	}
	fmt.Fprintf(stderr, "running: %s %s\n", o.varde, strings.Join(icmpOnlyArgs, " "))
	ir, err := measure(ctx, o.varde, icmpOnlyArgs...)
	if err != nil {
		return fmt.Errorf("varde ICMP only: %w", err)
	}

	// The floors: what the handshakes cost the kernel whatever the prober, and what the probe engine costs
	// in Go without the rest of varde's binary.
	var cr, er, tr *result
	var cSyscalls time.Duration // CPU the C floor spent in the handshakes' system calls alone
	if o.cFloor != "" {
		// varde's TCP engine alone on the same handshakes, for a like-for-like cost against the C floor.
		tcpOnlyArgs := []string{"probe", "--tcp", strconv.Itoa(int(o.port)), "--count", strconv.Itoa(o.tcpCount), "--json", "--targets", file}
		fmt.Fprintf(stderr, "running: %s %s\n", o.varde, strings.Join(tcpOnlyArgs, " "))
		t, err := measure(ctx, o.varde, tcpOnlyArgs...)
		if err != nil {
			return fmt.Errorf("varde TCP only: %w", err)
		}
		tr = &t
		floorArgs := []string{file, strconv.Itoa(int(o.port)), strconv.Itoa(o.tcpCount)}
		fmt.Fprintf(stderr, "running: %s %s\n", o.cFloor, strings.Join(floorArgs, " "))
		c, err := measure(ctx, o.cFloor, floorArgs...)
		if err != nil {
			return fmt.Errorf("C floor: %w", err)
		}
		cr = &c
		m := regexp.MustCompile(`system calls (\d+) ns CPU`).FindSubmatch(c.stdout)
		if m == nil {
			return fmt.Errorf("C floor: no system call CPU in its output %q", c.stdout)
		}
		ns, _ := strconv.ParseInt(string(m[1]), 10, 64)
		cSyscalls = time.Duration(ns)
	}
	if o.engine != "" {
		engineArgs := []string{file, strconv.Itoa(int(o.port)), strconv.Itoa(o.count), strconv.Itoa(o.tcpCount)}
		fmt.Fprintf(stderr, "running: %s %s\n", o.engine, strings.Join(engineArgs, " "))
		r, err := measure(ctx, o.engine, engineArgs...)
		if err != nil {
			return fmt.Errorf("engine alone: %w", err)
		}
		er = &r
	}

	xs, overflow := l.Exchanges()
	if overflow != 0 {
		return fmt.Errorf("lab transit log overflowed by %d packets: fewer targets or echoes", overflow)
	}
	vEcho, vLateE := givenMedians(xs, lab.ExchangeEcho, vStart, vEnd)
	vHand, vLateH := givenMedians(xs, lab.ExchangeHandshake, vStart, vEnd)
	fEcho, fLateE := givenMedians(xs, lab.ExchangeEcho, fStart, fEnd)
	ve, fe, te := errorsVsGiven(vICMP, vEcho), errorsVsGiven(fICMP, fEcho), errorsVsGiven(vTCP, vHand)
	fmt.Fprintf(stdout, "latency lab: %d targets, nominal RTT %v–%v, %s, %s; varde: %s %s\n",
		len(eps), o.minRTT, o.maxRTT, l.Prefix(), families, o.varde, strings.Join(vardeArgs, " "))
	fmt.Fprintf(stdout, "fping: %s %s\n\n", o.fping, strings.Join(fpingArgs, " "))
	tw := &table{}
	tw.row("metric", "varde", "fping", "varde/fping")
	tw.row("wall time (s)", f3(vr.wall.Seconds()), f3(fr.wall.Seconds()), ratio(vr.wall.Seconds(), fr.wall.Seconds()))
	tw.row("CPU user+sys (s)", f3(vr.cpu.Seconds()), f3(fr.cpu.Seconds()), ratio(vr.cpu.Seconds(), fr.cpu.Seconds()))
	// Per sample: varde's echoes and handshakes against fping's echoes.
	vPer, fPer := perSample(vr.cpu, vICMP.sent+vTCP.sent), perSample(fr.cpu, fICMP.sent)
	tw.row("CPU per sample sent (µs)", f1(vPer), f1(fPer), ratio(vPer, fPer))
	tw.row("peak RSS (MiB)", f1(float64(vr.maxRSSKiB)/1024), f1(float64(fr.maxRSSKiB)/1024), ratio(float64(vr.maxRSSKiB), float64(fr.maxRSSKiB)))
	tw.row("  of which anonymous, sampled (MiB)", f1(float64(vr.maxAnonKiB)/1024), f1(float64(fr.maxAnonKiB)/1024), ratio(float64(vr.maxAnonKiB), float64(fr.maxAnonKiB)))
	tw.row("ICMP only: wall time (s)", f3(ir.wall.Seconds()), f3(fr.wall.Seconds()), ratio(ir.wall.Seconds(), fr.wall.Seconds()))
	tw.row("ICMP only: CPU user+sys (s)", f3(ir.cpu.Seconds()), f3(fr.cpu.Seconds()), ratio(ir.cpu.Seconds(), fr.cpu.Seconds()))
	tw.row("ICMP only: peak RSS (MiB)", f1(float64(ir.maxRSSKiB)/1024), f1(float64(fr.maxRSSKiB)/1024), ratio(float64(ir.maxRSSKiB), float64(fr.maxRSSKiB)))
	if cr != nil {
		hs := o.tcpCount * len(eps)
		tw.row(fmt.Sprintf("TCP only, %d handshakes: CPU (s)", hs), f3(tr.cpu.Seconds()), f3(fr.cpu.Seconds()), ratio(tr.cpu.Seconds(), fr.cpu.Seconds()))
		tw.row(fmt.Sprintf("floor: %d handshakes, minimal C: CPU (s)", hs), f3(cr.cpu.Seconds()), f3(fr.cpu.Seconds()), ratio(cr.cpu.Seconds(), fr.cpu.Seconds()))
		tw.row("floor: their system calls alone: CPU (s)", f3(cSyscalls.Seconds()), f3(fr.cpu.Seconds()), ratio(cSyscalls.Seconds(), fr.cpu.Seconds()))
	}
	if er != nil {
		tw.row("floor: probe engine alone, minimal Go: CPU (s)", f3(er.cpu.Seconds()), f3(fr.cpu.Seconds()), ratio(er.cpu.Seconds(), fr.cpu.Seconds()))
		tw.row("floor: probe engine alone, minimal Go: peak RSS (MiB)", f1(float64(er.maxRSSKiB)/1024), f1(float64(fr.maxRSSKiB)/1024), ratio(float64(er.maxRSSKiB), float64(fr.maxRSSKiB)))
	}
	tw.row("ICMP targets answered", fmt.Sprint(ve.n), fmt.Sprint(fe.n), "")
	tw.row("ICMP echoes received/sent", fmt.Sprintf("%d/%d", vICMP.received, vICMP.sent), fmt.Sprintf("%d/%d", fICMP.received, fICMP.sent), "")
	tw.row("ICMP lab late vs nominal, median (ms)", f3(vLateE.median), f3(fLateE.median), "")
	tw.row("ICMP lab late vs nominal, p99 (ms)", f3(vLateE.p99), f3(fLateE.p99), "")
	tw.row("ICMP |median−given| median (ms)", f3(ve.median), f3(fe.median), ratio(ve.median, fe.median))
	tw.row("ICMP |median−given| p99 (ms)", f3(ve.p99), f3(fe.p99), ratio(ve.p99, fe.p99))
	tw.row("ICMP |median−given| max (ms)", f3(ve.max), f3(fe.max), ratio(ve.max, fe.max))
	tw.row("ICMP signed median error (ms)", f3(ve.signedMedian), f3(fe.signedMedian), "")
	tw.row("TCP targets answered", fmt.Sprint(te.n), "-", "")
	tw.row("TCP handshakes received/sent", fmt.Sprintf("%d/%d", vTCP.received, vTCP.sent), "-", "")
	tw.row("TCP lab late vs nominal, median (ms)", f3(vLateH.median), "-", "")
	tw.row("TCP lab late vs nominal, p99 (ms)", f3(vLateH.p99), "-", "")
	tw.row("TCP |median−given| median (ms)", f3(te.median), "-", "")
	tw.row("TCP |median−given| p99 (ms)", f3(te.p99), "-", "")
	tw.row("TCP |median−given| max (ms)", f3(te.max), "-", "")
	tw.row("TCP signed median error (ms)", f3(te.signedMedian), "-", "")
	tw.write(stdout)

	fmt.Fprintln(stdout)
	check := func(ok bool, what string) {
		mark := "MET   "
		if !ok {
			mark = "MISSED"
		}
		fmt.Fprintf(stdout, "%s %s\n", mark, what)
	}
	// Issue 15's acceptance bars.
	check(ve.n == len(eps) && ve.p99 <= fe.p99, fmt.Sprintf("varde ICMP p99 error %.3f ms ≤ fping's %.3f ms", ve.p99, fe.p99))
	check(ve.n == len(eps) && ve.p99 <= 0.1, fmt.Sprintf("varde ICMP p99 error %.3f ms ≤ 0.1 ms", ve.p99))
	check(te.n == len(eps) && te.p99 <= 0.15, fmt.Sprintf("varde TCP p99 error %.3f ms ≤ 0.15 ms", te.p99))
	check(vPer <= fPer, fmt.Sprintf("varde CPU per sample %.1f µs (%d echoes and handshakes) ≤ fping's %.1f µs (%d echoes)",
		vPer, vICMP.sent+vTCP.sent, fPer, fICMP.sent))
	check(vr.cpu <= fr.cpu, fmt.Sprintf("varde CPU %.3f s ≤ 1.0 × fping's %.3f s (varde's with its %d TCP handshakes)", vr.cpu.Seconds(), fr.cpu.Seconds(), vTCP.sent))
	check(ir.cpu <= fr.cpu, fmt.Sprintf("varde CPU, ICMP only, %.3f s ≤ 1.0 × fping's %.3f s", ir.cpu.Seconds(), fr.cpu.Seconds()))
	check(float64(vr.maxRSSKiB) <= 1.2*float64(fr.maxRSSKiB), fmt.Sprintf("varde peak RSS %.1f MiB ≤ 1.2 × fping's %.1f MiB (each process's own, from GNU time)",
		float64(vr.maxRSSKiB)/1024, float64(fr.maxRSSKiB)/1024))
	check(vr.wall.Seconds() <= 1.2*fr.wall.Seconds(), fmt.Sprintf("varde wall %.2f s ≤ 1.2 × fping's %.2f s", vr.wall.Seconds(), fr.wall.Seconds()))
	if cr != nil {
		fmt.Fprintf(stdout, "floor: varde's TCP engine used %s the CPU of minimal C for the same handshakes\n", ratio(tr.cpu.Seconds(), cr.cpu.Seconds()))
		sys := cSyscalls.Seconds() / fr.cpu.Seconds()
		fmt.Fprintf(stdout, "floor: the handshakes' own system calls cost %.2f× fping's whole run: CPU ≤ 1.0× fping's with them leaves %.2f× for the echoes, every wake-up and start-up (varde's ICMP only: %s)\n",
			sys, 1-sys, ratio(ir.cpu.Seconds(), fr.cpu.Seconds()))
	}
	if er != nil {
		fmt.Fprintf(stdout, "floor: varde's probe engine in a minimal Go binary peaked at %.1f MiB RSS; the rest of varde's %.1f MiB is its executable's pages\n",
			float64(er.maxRSSKiB)/1024, float64(vr.maxRSSKiB)/1024)
	}
	if err := l.Close(); err != nil {
		return fmt.Errorf("close lab: %w", err)
	}
	for i, s := range l.Stats() {
		fmt.Fprintf(stdout, "lab delay line %d: forwarded %d, dropped %d, foreign %d, late mean %v max %v, >50µs %d, >200µs %d\n",
			i, s.Forwarded, s.Dropped, s.Foreign, s.LateMean, s.LateMax, s.LateOver50us, s.LateOver200us)
	}
	return nil
}

// perSample is CPU per sample in microseconds.
func perSample(cpu time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(cpu.Microseconds()) / float64(n)
}

// result is one subprocess run.
type result struct {
	wall           time.Duration
	cpu            time.Duration
	maxRSSKiB      int64
	maxAnonKiB     int64 // RssAnon of the measured process, sampled every 10 ms: its own memory without the mapped binary
	stdout, stderr []byte
}

// timeBin is GNU time. It reports its child's own peak RSS: a child this Go process started directly
// would carry this process's high-water RSS in its rusage (os/exec starts children sharing our memory
// until exec, and exec keeps the old high-water mark in maxrss), while time(1) forks from its own
// sub-megabyte image.
const timeBin = "/usr/bin/time"

func measure(ctx context.Context, name string, args ...string) (result, error) {
	rssFile, err := os.CreateTemp("", "varde-bench-rss-")
	if err != nil {
		return result{}, err
	}
	rssFile.Close()
	defer os.Remove(rssFile.Name())
	cmd := exec.CommandContext(ctx, timeBin, append([]string{"-f", "%M", "-o", rssFile.Name(), name}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err = cmd.Start(); err != nil {
		return result{}, err
	}
	anon := sampleAnon(cmd.Process.Pid)
	err = cmd.Wait()
	r := result{wall: time.Since(start), stdout: out.Bytes(), stderr: errb.Bytes(), maxAnonKiB: anon()}
	if cmd.ProcessState != nil {
		// CPU: time(1)'s rusage includes the child it waited for (and time's own few hundred µs).
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	if b, rerr := os.ReadFile(rssFile.Name()); rerr == nil {
		// time writes "Command exited with non-zero status N" before the format when the child failed.
		if v, perr := strconv.ParseInt(lastLine(string(b)), 10, 64); perr == nil {
			r.maxRSSKiB = v
		}
	}
	if r.maxRSSKiB == 0 && err == nil {
		return r, fmt.Errorf("%s: no peak RSS from %s", name, timeBin)
	}
	if err != nil {
		msg := errb.String()
		if len(msg) > 2000 {
			msg = msg[:2000] + "..."
		}
		return r, fmt.Errorf("%s: %w; stderr:\n%s", name, err, msg)
	}
	return r, nil
}

// sampleAnon samples RssAnon of time(1)'s child (the measured tool) until the returned function is called,
// which returns the highest value seen. Peak RSS counts the pages of the executable mapped from the page
// cache too; for a 30 MB Go binary that is most of it.
func sampleAnon(timePid int) func() int64 {
	stop := make(chan struct{})
	done := make(chan int64)
	go func() {
		var peak int64
		child := 0
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if child == 0 {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", timePid, timePid))
				if f := strings.Fields(string(b)); len(f) > 0 {
					child, _ = strconv.Atoi(f[0])
				}
			}
			if child != 0 {
				if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", child)); err == nil {
					for _, line := range strings.Split(string(b), "\n") {
						if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
							kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
							peak = max(peak, kib)
						}
					}
				}
			}
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { close(stop); return <-done }
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// measured holds per-address medians of one tool and kind.
type measured struct {
	median         map[string]float64 // ms, only addresses with at least one reply
	sent, received int
}

type vardeLine struct {
	Address  string   `json:"address"`
	Kind     string   `json:"kind"`
	Sent     int      `json:"sent"`
	Received int      `json:"received"`
	Median   *float64 `json:"median_ms"`
	Failure  string   `json:"failure"`
}

func parseVarde(b []byte) (icmp, tcp measured, err error) {
	icmp.median, tcp.median = map[string]float64{}, map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	line := 0
	for sc.Scan() {
		line++
		var v vardeLine
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return icmp, tcp, fmt.Errorf("stdout line %d: %w", line, err)
		}
		m := &icmp
		switch v.Kind {
		case "icmp":
		case "tcp":
			m = &tcp
		default:
			return icmp, tcp, fmt.Errorf("stdout line %d: unknown kind %q", line, v.Kind)
		}
		m.sent += v.Sent
		m.received += v.Received
		if v.Median != nil {
			m.median[v.Address] = *v.Median
		}
	}
	return icmp, tcp, sc.Err()
}

// parseFping reads `fping -C N -q` output: "198.18.0.2 : 2.05 2.03 - 2.01 2.02" on stderr.
func parseFping(b []byte) (measured, error) {
	m := measured{median: map[string]float64{}}
	for i, line := range strings.Split(string(b), "\n") {
		addr, samples, ok := strings.Cut(line, " : ")
		if !ok {
			continue
		}
		addr = strings.TrimSpace(addr)
		if _, err := netip.ParseAddr(addr); err != nil {
			return m, fmt.Errorf("fping stderr line %d: %q is not an address", i+1, addr)
		}
		var rtts []float64
		for _, f := range strings.Fields(samples) {
			m.sent++
			if f == "-" {
				continue
			}
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return m, fmt.Errorf("fping stderr line %d: sample %q: %w", i+1, f, err)
			}
			rtts = append(rtts, v)
			m.received++
		}
		if len(rtts) > 0 {
			m.median[addr] = median(rtts)
		}
	}
	return m, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

type errStats struct {
	n                              int
	median, p99, max, signedMedian float64
}

// lateStats summarises how much longer than nominal the lab held a run's exchanges, in ms.
type lateStats struct{ median, p99 float64 }

// givenMedians is, per target address, the median RTT the lab really gave the exchanges of kind whose
// requests arrived in [from, to]: the truth a tool's median is judged against. It also summarises how late
// the lab was over those exchanges.
func givenMedians(xs lab.Exchanges, kind lab.ExchangeKind, from, to time.Time) (map[string]time.Duration, lateStats) {
	given := map[string][]float64{}
	var late []float64
	for _, x := range xs {
		if x.Kind != kind || x.Arrived.Before(from) || x.Arrived.After(to) {
			continue
		}
		given[x.Target.String()] = append(given[x.Target.String()], float64(x.Given()))
		late = append(late, float64(x.Late())/1e6)
	}
	out := make(map[string]time.Duration, len(given))
	for addr, v := range given {
		out[addr] = time.Duration(median(v))
	}
	if len(late) == 0 {
		return out, lateStats{math.NaN(), math.NaN()}
	}
	slices.Sort(late)
	return out, lateStats{median(late), late[int(math.Ceil(0.99*float64(len(late))))-1]}
}

func errorsVsGiven(m measured, given map[string]time.Duration) errStats {
	var abs, signed []float64
	for addr, med := range m.median {
		t, ok := given[addr]
		if !ok {
			continue
		}
		d := med - float64(t)/1e6
		signed = append(signed, d)
		abs = append(abs, math.Abs(d))
	}
	if len(abs) == 0 {
		return errStats{median: math.NaN(), p99: math.NaN(), max: math.NaN(), signedMedian: math.NaN()}
	}
	slices.Sort(abs)
	p99 := abs[int(math.Ceil(0.99*float64(len(abs))))-1]
	return errStats{n: len(abs), median: median(abs), p99: p99, max: abs[len(abs)-1], signedMedian: median(signed)}
}

func f3(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func ratio(a, b float64) string {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "-"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64) + "×"
}

// table aligns columns: the first left, the rest right.
type table struct{ rows [][]string }

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) {
	width := make([]int, len(t.rows[0]))
	for _, r := range t.rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, r := range t.rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i == 0 {
				b.WriteString(c + pad)
			} else {
				b.WriteString("  " + pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}
