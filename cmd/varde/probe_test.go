package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/varde/varde/probes"
)

var updateProbe = flag.Bool("update-probe", false, "rewrite testdata/probe-*.golden")

func runProbe(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := runEnv(context.Background(), append([]string{"probe"}, args...), &out, &errb, func(string) string { return "" })
	return out.String(), errb.String(), err
}

func TestProbeBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "targets.txt")
	if err := os.WriteFile(bad, []byte("198.18.0.1\n\n# c\nhost:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args    []string
		wantErr string
		usage   bool
	}{
		{[]string{"--count", "0", "127.0.0.1"}, "--count 0", true},
		{[]string{"--interval", "-1s", "127.0.0.1"}, "--interval -1s", true},
		{[]string{"--interval", "0", "127.0.0.1"}, "--interval 0s: must be positive", true},
		{[]string{"--timeout", "0", "127.0.0.1"}, "--timeout 0s: must be positive", true},
		{[]string{"--count", "2000000000", "127.0.0.1"}, "count 2000000000: over the limit of 86400 samples per target", true},
		{[]string{"--targets", "/dev/zero"}, "/dev/zero: not a regular file", false},
		{[]string{"--tcp", "70000", "127.0.0.1"}, "--tcp 70000: port out of range", true},
		{[]string{"--tcp", "0", "127.0.0.1"}, "--tcp 0: port out of range", true},
		{[]string{"127.0.0.1:99999"}, `"127.0.0.1:99999"`, true},
		{[]string{"--targets", bad}, bad + ":4: ", false},
		{[]string{}, "no targets", true},
	}
	for _, tt := range tests {
		_, _, err := runProbe(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("probe %v: error %v, want containing %q", tt.args, err, tt.wantErr)
			continue
		}
		var u usageError
		if isUsage := asUsage(err, &u); isUsage != tt.usage {
			t.Errorf("probe %v: usage error = %v, want %v", tt.args, isUsage, tt.usage)
		}
	}
}

func asUsage(err error, u *usageError) bool {
	v, ok := err.(usageError)
	if ok {
		*u = v
	}
	return ok
}

func TestProbeTCPJSON(t *testing.T) {
	t.Parallel()
	port := strconv.Itoa(loopbackPort(t))
	// --tcp-count wins over --count for the handshakes.
	out, _, err := runProbe(t, "--vantage", "oslo-test", "--tcp", port, "--count", "2", "--tcp-count", "3", "--interval", "10ms", "--json", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	lines := 0
	for sc.Scan() {
		lines++
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d not JSON: %v", lines, err)
		}
		for _, k := range []string{"vantage", "target", "address", "kind", "port", "started", "failure", "error", "sent",
			"received", "duplicates", "loss_pct", "min_ms", "median_ms", "mean_ms", "p95_ms", "max_ms", "mdev_ms",
			"jitter_ms", "samples"} {
			if _, ok := m[k]; !ok {
				t.Errorf("field %q missing in %s", k, sc.Text())
			}
		}
		if m["vantage"] != "oslo-test" || m["kind"] != "tcp" || m["received"] != 3.0 || m["address"] != "127.0.0.1" {
			t.Errorf("unexpected line %s", sc.Text())
		}
		samples := m["samples"].([]any)
		if len(samples) != 3 || samples[0].(map[string]any)["kernel_rtt_ms"] == nil {
			t.Errorf("samples %v", samples)
		}
	}
	if lines != 1 {
		t.Fatalf("got %d JSON lines, want 1 (TCP only, no ICMP when only --tcp is given):\n%s", lines, out)
	}
}

// TestProbeTableGolden checks the summary layout from fixed results.
func TestProbeTableGolden(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	mk := func(rtts ...float64) []probes.Sample {
		var s []probes.Sample
		for i, r := range rtts {
			smp := probes.Sample{Seq: i, SentAt: start.Add(time.Duration(i) * time.Second)}
			if r > 0 {
				smp.RTT, smp.Received = time.Duration(r*1e6), true
			} else {
				smp.Failure = probes.FailTimeout
			}
			s = append(s, smp)
		}
		return s
	}
	results := []probes.Result{
		{Vantage: "oslo-nix-1", Target: "oslo.example.no", Address: netip.MustParseAddr("198.18.0.2"), Kind: probes.KindICMP, Samples: mk(2.01, 2.03, 0, 2.02)},
		{Vantage: "oslo-nix-1", Target: "oslo.example.no", Address: netip.MustParseAddr("198.18.0.2"), Kind: probes.KindTCP, Port: 443, Samples: mk(2.2, 2.4, 2.3, 2.5)},
		{Vantage: "oslo-nix-1", Target: "gone.example", Kind: probes.KindICMP, Failure: probes.FailDNS, Err: "lookup gone.example: no such host"},
	}
	for i := range results {
		results[i].Stats = probes.ComputeStats(results[i].Samples)
	}
	var table, js bytes.Buffer
	if err := writeProbeTable(&table, results); err != nil {
		t.Fatal(err)
	}
	if err := writeProbeJSON(&js, results); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{"probe-table.golden": table.Bytes(), "probe-json.golden": js.Bytes()} {
		path := filepath.Join("testdata", name)
		if *updateProbe {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestProbeTableGolden -update-probe)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs:\n got:\n%s\nwant:\n%s", name, got, want)
		}
	}
}

// loopbackPort starts a TCP listener on 127.0.0.1 that accepts and closes every connection until the
// test ends, and returns its port.
func loopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}
