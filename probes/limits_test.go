package probes

import (
	"strings"
	"testing"
)

func TestCheckSize(t *testing.T) {
	t.Parallel()
	cases := []struct {
		cfg  Config
		n    int
		want string
	}{
		{Config{ICMP: true, Count: 5}, 10_000, ""},
		{Config{ICMP: true, Count: MaxCount}, 1, ""},
		{Config{ICMP: true, Count: 2_000_000_000}, 1, "count 2000000000: over the limit of 86400"},
		{Config{ICMP: true, Count: 1}, MaxTargets + 1, "100001 targets: over the limit of 100000"},
		{Config{ICMP: true, TCP: true, Count: 100}, 10_001, "= 2000200: over the limit of 2000000 samples"},
		{Config{ICMP: true, TCP: true, Count: 100, TCPCount: 99}, 10_001, ""},
		{Config{ICMP: true, TCP: true, Count: 5, TCPCount: 2_000_000_000}, 1, "TCP count 2000000000: over the limit of 86400"},
		{Config{ICMP: true, Count: 5, TCPCount: 2_000_000_000}, 1, "TCP count 2000000000: over the limit"},
	}
	for _, c := range cases {
		err := CheckSize(c.cfg, c.n)
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckSize(%+v, %d) = %v, want %q", c.cfg, c.n, err, c.want)
		}
	}
}

func TestParseTargetsStopsAtMaxTargets(t *testing.T) {
	t.Parallel()
	in := strings.Repeat("10.0.0.1\n", MaxTargets+1)
	_, err := ParseTargets(strings.NewReader(in), "many.txt")
	if err == nil || !strings.Contains(err.Error(), "many.txt:100001: more than 100000 targets") {
		t.Fatalf("%d targets: %v", MaxTargets+1, err)
	}
	if ts, err := ParseTargets(strings.NewReader(in[len("10.0.0.1\n"):]), "max.txt"); err != nil || len(ts) != MaxTargets {
		t.Fatalf("%d targets: %d, %v", MaxTargets, len(ts), err)
	}
}

func TestSetCounts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		icmp, tcp       int
		ok, wICMP, wTCP bool
		count, tcpCount int
	}{
		{5, 3, true, true, true, 5, 3},
		{5, 0, true, true, false, 5, 0},
		{0, 3, true, false, true, 3, 3},
		{0, 0, false, false, false, 0, 0},
	}
	for _, c := range cases {
		var cfg Config
		ok := cfg.SetCounts(c.icmp, c.tcp)
		if ok != c.ok || cfg.ICMP != c.wICMP || cfg.TCP != c.wTCP || cfg.Count != c.count || cfg.TCPCount != c.tcpCount {
			t.Errorf("SetCounts(%d, %d) = %v, %+v", c.icmp, c.tcp, ok, cfg)
		}
		if ok {
			if err := cfg.Validate(); err != nil {
				t.Errorf("SetCounts(%d, %d): %v", c.icmp, c.tcp, err)
			}
		}
	}
}
