package job

import (
	"strings"
	"testing"
	"time"
)

const goodConfig = `organisation: Fjordnett AS
period: 2026-Q3
vantages:
  - {name: oslo-nix-1, city: Oslo, latitude: 59.91, longitude: 10.75, network: NIX}
targets:
  - {name: nix, lab_rtt: 2ms, port: 443}
signing: {keys_dir: keys, init: true}
`

func TestParseConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig("/etc/varde/audit.yaml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != "quarterly" || c.Vantage != "oslo-nix-1" || !*c.Probes.ICMP || c.Probes.Count != 20 ||
		time.Duration(c.Targets[0].LabRTT) != 2*time.Millisecond || c.Targets[0].Label != "nix" {
		t.Errorf("defaults: %+v", c)
	}
	if got := c.Path("stores.yaml"); got != "/etc/varde/stores.yaml" {
		t.Errorf("relative path resolves to %s", got)
	}
	start, end, err := ParsePeriod(c.Period)
	if err != nil || start.Format(time.DateOnly) != "2026-07-01" || end.Format(time.DateOnly) != "2026-09-30" {
		t.Errorf("period %v %v %v", start, end, err)
	}
}

func TestParseConfigErrorsNameTheInput(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, yaml, want string }{
		{"unknown field", goodConfig + "colour: blue\n", "audit.yaml:8: field colour not found"},
		{"bad duration", strings.Replace(goodConfig, "lab_rtt: 2ms", "lab_rtt: fast", 1), `audit.yaml:6: "fast" is not a duration`},
		{"bad period", strings.Replace(goodConfig, "2026-Q3", "2026-Q5", 1), `period: "2026-Q5"`},
		{"no organisation", strings.Replace(goodConfig, "organisation: Fjordnett AS\n", "", 1), "organisation is required"},
		{"port out of range", strings.Replace(goodConfig, "port: 443", "port: 70000", 1), "targets[0] nix: port 70000 is out of range"},
		{"target without host", strings.Replace(goodConfig, "lab_rtt: 2ms, ", "", 1), "targets[0] nix: give a host, or lab_rtt"},
		{"bad coordinates", strings.Replace(goodConfig, "latitude: 59.91", "latitude: 159.91", 1), "audit.yaml:4: vantages[0] oslo-nix-1: latitude 159.91: want a number from -90 to 90"},
		{"unknown vantage", strings.Replace(goodConfig, "period: 2026-Q3\n", "period: 2026-Q3\nvantage: bergen\n", 1), `vantage "bergen" is not described`},
		{"zero interval", goodConfig + "probes: {interval: 0s}\n", `audit.yaml:8: "0s": a duration of zero is not allowed`},
		{"negative interval", goodConfig + "probes: {interval: -5ms}\n", "interval and timeout must not be negative"},
		{"no signing", strings.Replace(goodConfig, "signing: {keys_dir: keys, init: true}\n", "", 1), "signing: give keys_dir"},
		{"kind", goodConfig + "kind: monthly\n", `kind "monthly"`},
	}
	for _, tc := range cases {
		_, err := ParseConfig("audit.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "audit.yaml") {
			t.Errorf("%s: %v, want an error naming audit.yaml and containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := LoadConfig("/nonexistent/audit.yaml"); err == nil || !strings.Contains(err.Error(), "/nonexistent/audit.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestParsePeriodForms(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"2026-Q1": "2026-01-01..2026-03-31", "2025-Q4": "2025-10-01..2025-12-31",
		"2026-02": "2026-02-01..2026-02-28", "2026-07-01..2026-09-30": "2026-07-01..2026-09-30",
	} {
		a, b, err := ParsePeriod(in)
		if err != nil || a.Format(time.DateOnly)+".."+b.Format(time.DateOnly) != want {
			t.Errorf("%s: %v %v %v, want %s", in, a, b, err, want)
		}
	}
	for _, bad := range []string{"2026", "2026-Q0", "2026-13", "2026-09-30..2026-07-01", "Q3"} {
		if _, _, err := ParsePeriod(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
