package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/varde/varde/job"
	"github.com/varde/varde/storage"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/varde/varde"
	"github.com/varde/varde/probes"
)

// targetsLimit bounds a --targets file: MaxTargets lines of a long host name and port.
var targetsLimit = varde.Limit{What: "a targets file", Bytes: 32 << 20}

// cmdProbe measures ICMP echo and TCP handshake latency to targets and prints a summary or JSON lines.
func cmdProbe(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "probe")
	host, _ := os.Hostname()
	vantage := fs.String("vantage", host, "vantage `name` recorded in results")
	doICMP := fs.Bool("icmp", false, "ICMP echo (the default when neither --icmp nor --tcp is given)")
	tcpPort := fs.Int("tcp", 0, "TCP handshake to `PORT` (a target's own host:port wins)")
	count := fs.Int("count", 5, "echoes or handshakes per target and kind")
	tcpCount := fs.Int("tcp-count", 0, "handshakes per target when it should differ from --count (with --tcp)")
	var sf storeFlags
	sf.register(fs)
	interval := fs.Duration("interval", time.Second, "time between samples to one target")
	timeout := fs.Duration("timeout", time.Second, "per-sample timeout")
	targetsFile := fs.String("targets", "", "read targets from `FILE` (- for stdin), one per line, # comments")
	asJSON := fs.Bool("json", false, "print JSON lines, one per target and kind")
	engine := fs.String("icmp-engine", string(probes.ICMPShared), "ICMP path: shared (kernel timestamps, one socket) or pro-bing")
	maxSockets := fs.Int("max-sockets", 512, "at most this many TCP connects (or pro-bing pingers) at once")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: varde probe [--vantage NAME] [--icmp] [--tcp PORT] [--count N] [--interval D] [--timeout D] [--targets FILE|-] [--json] TARGET...")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		if err == errHelpShown {
			return nil
		}
		return err
	}
	tcpSet := false
	fs.Visit(func(f *flagValue) {
		if f.Name == "tcp" {
			tcpSet = true
		}
	})
	cfg := probes.Config{
		Vantage:    *vantage,
		ICMP:       *doICMP || !tcpSet,
		TCP:        tcpSet,
		Count:      *count,
		TCPCount:   *tcpCount,
		Interval:   *interval,
		Timeout:    *timeout,
		MaxSockets: *maxSockets,
		ICMPEngine: probes.ICMPEngine(*engine),
		Logger:     e.logger,
	}
	if tcpSet {
		if *tcpPort < 1 || *tcpPort > 65535 {
			return usagef("probe: --tcp %d: port out of range 1-65535", *tcpPort)
		}
		cfg.TCPPort = uint16(*tcpPort)
	}
	if *count < 1 {
		return usagef("probe: --count %d: must be at least 1", *count)
	}
	if *tcpCount < 0 {
		return usagef("probe: --tcp-count %d: must not be negative", *tcpCount)
	}
	// Zero is refused rather than taken as the default: a flag given is a flag meant.
	if *interval <= 0 {
		return usagef("probe: --interval %v: must be positive", *interval)
	}
	if *timeout <= 0 {
		return usagef("probe: --timeout %v: must be positive", *timeout)
	}
	if *tcpCount > probes.MaxCount {
		return usagef("probe: --tcp-count %d: over the limit of %d samples per target", *tcpCount, probes.MaxCount)
	}
	if err := cfg.Validate(); err != nil {
		return usagef("probe: %v", err)
	}

	var targets []probes.Target
	if *targetsFile != "" {
		var r io.Reader
		name := *targetsFile
		if name == "-" {
			r, name = os.Stdin, "stdin"
		} else {
			f, err := varde.OpenFile(name, targetsLimit)
			if err != nil {
				return fmt.Errorf("probe: targets file: %w", err)
			}
			defer f.Close()
			r = f
		}
		r = varde.LimitReader(r, name, targetsLimit)
		ts, err := probes.ParseTargets(r, name)
		if err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		targets = append(targets, ts...)
	}
	for _, a := range fs.Args() {
		t, err := probes.ParseTarget(a)
		if err != nil {
			return usagef("probe: %v", err)
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		return usagef("probe: no targets (give TARGET arguments or --targets FILE)")
	}
	if err := probes.CheckSize(cfg, len(targets)); err != nil {
		return usagef("probe: %v", err)
	}

	// A progress bar only for a person watching a sweep that takes a while.
	expected := time.Duration(*count-1)**interval + *timeout
	if f, ok := e.stderr.(*os.File); ok && isTerminal(f) && expected > 3*time.Second {
		bar := &progressBar{w: e.stderr}
		cfg.Progress = bar.update
		defer bar.clear()
	}

	results, err := sweep(ctx, cfg, targets)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	write := writeProbeTable
	if *asJSON {
		write = writeProbeJSON
	}
	if err := write(e.stdout, results); err != nil {
		return err
	}
	if sf.store {
		if err := e.storeEvidence(ctx, sf, "", func(s *storage.Store, id int64) error {
			return job.StoreProbeResults(ctx, s, id, results, time.Now())
		}); err != nil {
			return err
		}
	}
	// Like fping, the exit status tells a script whether anything answered.
	for _, r := range results {
		if r.Stats.Received > 0 {
			return nil
		}
	}
	return fmt.Errorf("probe: no reply from any of %d targets", len(targets))
}

// sweep runs one sweep with the engines' goroutines on one P.
func sweep(ctx context.Context, cfg probes.Config, targets []probes.Target) ([]probes.Result, error) {
	// The engines are goroutines that mostly wait on the netpoller. With one P the runtime does not wake
	// an idle thread to look for work each time one of them wakes: about a third less CPU in bench/probe.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	return probes.Sweep(ctx, cfg, targets)
}

type flagValue = flag.Flag

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

type progressBar struct {
	w     io.Writer
	drawn bool
	last  int
}

func (p *progressBar) update(done, total int) {
	if total == 0 || (p.drawn && done == p.last) {
		return
	}
	p.last = done
	const width = 40
	n := done * width / total
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d samples", strings.Repeat("#", n), strings.Repeat(".", width-n), done, total)
	p.drawn = true
}

func (p *progressBar) clear() {
	if p.drawn {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", 70))
	}
}

func writeProbeJSON(w io.Writer, results []probes.Result) error {
	if err := probes.WriteJSONLines(w, results); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	return nil
}

func ms(d time.Duration) float64 { return probes.Ms(d) }

// writeProbeTable prints one fping-like line per target and kind.
func writeProbeTable(w io.Writer, results []probes.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for _, r := range results {
		name := r.Target
		if r.Kind == probes.KindTCP {
			name = fmt.Sprintf("%s tcp/%d", r.Target, r.Port)
		} else {
			name += " icmp"
		}
		s := r.Stats
		line := fmt.Sprintf("%s\t: xmt/rcv/%%loss = %d/%d/%.0f%%", name, s.Sent, s.Received, s.LossPct)
		if s.Received > 0 {
			line += fmt.Sprintf(", min/med/avg/p95/max = %.3f/%.3f/%.3f/%.3f/%.3f ms, mdev %.3f, jitter %.3f",
				ms(s.Min), ms(s.Median), ms(s.Mean), ms(s.P95), ms(s.Max), ms(s.Mdev), ms(s.Jitter))
		}
		if s.Duplicates > 0 {
			line += fmt.Sprintf(", %d dup", s.Duplicates)
		}
		switch {
		case r.Failure != probes.FailNone:
			line += fmt.Sprintf(" [%s: %s]", r.Failure, r.Err)
		case s.Errors > 0:
			// Samples lost to the prober itself (its receive buffer overflowed): not in %loss, say why.
			line += fmt.Sprintf(", %d errors [%s]", s.Errors, r.Err)
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("probe: write: %w", err)
	}
	return nil
}
