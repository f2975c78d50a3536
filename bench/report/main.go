//go:build linux

// Command report benchmarks the quarterly compliance report at the size: 10,000 findings and
// 1,000 latency rows, rendered with package reports and signed with reports/sign. The render+sign
// job runs in a child process of this binary so that its peak RSS is its own. For scale it runs two
// peer tools on the same signed file in the same run, qpdf --check (full parse) and pdftotext
// (full text extraction), and prints ratios. Run it through bench/report/run.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/varde/varde/reports"
	"github.com/varde/varde/reports/sign"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench/report:", err)
		os.Exit(1)
	}
}

type options struct {
	findings, latency int
	out               string
	child             bool
	keys              string
	unsigned          bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("bench/report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.findings, "findings", 10000, "findings in the report")
	fs.IntVar(&o.latency, "latency", 1000, "latency rows in the report")
	fs.StringVar(&o.out, "out", "", "where to keep the signed PDF (default: a temp dir, removed)")
	fs.BoolVar(&o.unsigned, "unsigned", false, "render only, do not sign")
	fs.BoolVar(&o.child, "child", false, "internal: render and sign once, then exit")
	fs.StringVar(&o.keys, "keys", "", "internal: key directory for -child")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.findings < 0 || o.latency < 0 {
		return errors.New("-findings and -latency must not be negative")
	}
	if o.child {
		return child(ctx, o, stdout)
	}

	dir, err := os.MkdirTemp("", "varde-bench-report-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.out == "" {
		o.out = filepath.Join(dir, "report.pdf")
	}
	now := func() time.Time { return time.Date(2026, 7, 1, 8, 30, 0, 0, time.UTC) }
	if _, err := sign.InitKeys(ctx, filepath.Join(dir, "keys"), sign.KeysConfig{Now: now}); err != nil {
		return fmt.Errorf("make benchmark keys: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cargs := []string{"-child", "-keys", filepath.Join(dir, "keys"), "-out", o.out,
		"-findings", strconv.Itoa(o.findings), "-latency", strconv.Itoa(o.latency)}
	if o.unsigned {
		cargs = append(cargs, "-unsigned")
	}
	varde, err := measure(ctx, self, cargs...)
	if err != nil {
		return err
	}
	st, err := os.Stat(o.out)
	if err != nil {
		return err
	}
	pages, err := pdfPages(ctx, o.out)
	if err != nil {
		return err
	}
	label := "varde render+sign"
	if o.unsigned {
		label = "varde render (unsigned)"
	}
	rows := []struct {
		name string
		r    result
	}{{label, varde}}
	for _, peer := range [][]string{{"qpdf", "--check", o.out}, {"pdftotext", "-layout", o.out, os.DevNull}} {
		p, err := exec.LookPath(peer[0])
		if err != nil {
			fmt.Fprintf(stderr, "bench/report: %s not installed, skipped\n", peer[0])
			continue
		}
		r, err := measure(ctx, p, peer[1:]...)
		if err != nil {
			return err
		}
		rows = append(rows, struct {
			name string
			r    result
		}{peer[0] + " " + peer[1], r})
	}
	fmt.Fprintf(stdout, "compliance report: %d findings, %d latency rows, %d pages, %d bytes (%.1f MB)\n\n",
		o.findings, o.latency, pages, st.Size(), float64(st.Size())/1e6)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "job\twall s\tCPU s\tpeak RSS MB\tvarde/peer wall\tvarde/peer RSS\t")
	for _, r := range rows {
		ratioW, ratioM := "—", "—"
		if r.name != label {
			ratioW = fmt.Sprintf("%.2f", varde.wall.Seconds()/r.r.wall.Seconds())
			ratioM = fmt.Sprintf("%.2f", float64(varde.rssKB)/float64(r.r.rssKB))
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.1f\t%s\t%s\t\n", r.name, r.r.wall.Seconds(), r.r.cpu.Seconds(), float64(r.r.rssKB)/1024, ratioW, ratioM)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ntargets: wall ≤ 3 s, peak RSS ≤ 300 MB: %s\n", verdict(varde))
	return nil
}

func verdict(r result) string {
	if r.wall <= 3*time.Second && r.rssKB <= 300*1024 {
		return "met"
	}
	return "NOT met"
}

type result struct {
	wall  time.Duration
	cpu   time.Duration
	rssKB int64
}

// measure runs a command and returns its wall time, CPU time and peak RSS from wait4's rusage.
func measure(ctx context.Context, name string, args ...string) (result, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("%s: %w: %s", filepath.Base(name), err, bytes.TrimSpace(errb.Bytes()))
	}
	wall := time.Since(start)
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return result{}, errors.New("no rusage for child process")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return result{wall: wall, cpu: cpu, rssKB: ru.Maxrss}, nil
}

func pdfPages(ctx context.Context, path string) (int, error) {
	p, err := exec.LookPath("pdfinfo")
	if err != nil {
		return 0, nil
	}
	out, err := exec.CommandContext(ctx, p, path).Output()
	if err != nil {
		return 0, fmt.Errorf("pdfinfo %s: %w", path, err)
	}
	var n int
	for _, l := range bytes.Split(out, []byte("\n")) {
		if v, ok := bytes.CutPrefix(l, []byte("Pages:")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	return n, nil
}

// child is the measured job: build the model (as the lead's code would from Postgres), render,
// sign, verify the signature, and write the file.
func child(ctx context.Context, o options, stdout io.Writer) error {
	now := func() time.Time { return time.Date(2026, 7, 1, 8, 30, 0, 0, time.UTC) }
	m := model(o.findings, o.latency)
	var buf bytes.Buffer
	if err := reports.Compliance(&buf, m, reports.Options{Now: now}); err != nil {
		return err
	}
	pdf := buf.Bytes()
	if !o.unsigned {
		s, err := sign.LoadPEM(filepath.Join(o.keys, "signer.pem"), filepath.Join(o.keys, "signer-key.pem"), nil)
		if err != nil {
			return err
		}
		pdf, err = sign.Sign(ctx, pdf, s, sign.Options{Now: now})
		if err != nil {
			return err
		}
		roots, err := sign.LoadCertPool(filepath.Join(o.keys, "ca.pem"))
		if err != nil {
			return err
		}
		res, err := sign.Verify(pdf, sign.VerifyConfig{Roots: roots, Now: now})
		if err != nil {
			return err
		}
		if !res.Valid() {
			return fmt.Errorf("signed report does not verify: %v %v", res.Problems, res.Signatures[0].Problems)
		}
	}
	return os.WriteFile(o.out, pdf, 0o600)
}

// model is a synthetic audit of the benchmark's size with realistic cell lengths.
func model(nf, nl int) reports.ComplianceModel {
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	geo := reports.DatabaseProvenance{Type: "GeoLite2-Country", BuildDate: time.Date(2026, 6, 23, 0, 0, 0, 0, time.UTC), SHA256: sum("geo")}
	m := reports.ComplianceModel{
		Organisation: "Fjordvarme Drift AS — avdeling Tromsø",
		Period:       reports.Period{From: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)},
		AuditID:      "aud-bench-10k", AuditKind: "quarterly",
		Started: time.Date(2026, 6, 30, 22, 0, 0, 0, time.UTC), Finished: time.Date(2026, 6, 30, 23, 0, 0, 0, time.UTC),
		Vantages:    []reports.Vantage{{Name: "oslo-nix-1", City: "Oslo", Lat: 59.91, Lon: 10.75, Network: "NIX"}},
		ToolVersion: "bench", RulesVersion: "bench",
		Evidence: reports.EvidenceAppendix{ChainHead: sum("head"), ChainLength: int64(nf + nl), Databases: []reports.DatabaseProvenance{geo},
			Counts: []reports.KindCount{{Kind: "finding", Rows: int64(nf)}, {Kind: "measurement", Rows: int64(nl)}}},
	}
	verdicts := []reports.Verdict{reports.VerdictPass, reports.VerdictWarning, reports.VerdictViolation, reports.VerdictInconclusive}
	sevs := []reports.Severity{reports.SeverityInfo, reports.SeverityLow, reports.SeverityMedium, reports.SeverityHigh, reports.SeverityCritical}
	for i := range nf {
		m.Findings = append(m.Findings, reports.Finding{
			Subject: fmt.Sprintf("store-%05d.kunde.no", i), RuleID: fmt.Sprintf("RES-%03d", i%17), LegalReference: "GDPR Art. 44–46",
			Severity: sevs[i%5], Verdict: verdicts[i%4],
			Text:     fmt.Sprintf("Personopplysninger for kunde %d lagres på tjener i et land med status %s; grunnlaget må dokumenteres.", i, verdicts[i%4]),
			Evidence: "observation sha256:" + sum(strconv.Itoa(i)),
		})
	}
	for i := range nl {
		kind := []string{"icmp", "tcp"}[i%2]
		m.Latency = append(m.Latency, reports.LatencyRow{Vantage: "oslo-nix-1", Target: fmt.Sprintf("target-%04d.fjordvarme.no", i),
			Address: fmt.Sprintf("192.0.%d.%d", i/256, i%256), Kind: kind, Sent: 20, Received: 20,
			Min: time.Duration(800+i) * time.Microsecond, Median: time.Duration(1200+i) * time.Microsecond, P95: time.Duration(2500+i) * time.Microsecond,
			Max: time.Duration(4000+i) * time.Microsecond, Jitter: time.Duration(100+i) * time.Microsecond})
	}
	return m
}
