package job

import (
	"strings"
	"testing"
)

// Inputs that once got past ParseConfig and failed later naming nothing (or went to DNS) are refused
// with file:line and the field.
func TestParseConfigRefusesHostileValues(t *testing.T) {
	t.Parallel()
	lat := func(v string) string { return strings.Replace(goodConfig, "latitude: 59.91", "latitude: "+v, 1) }
	cases := []struct{ name, yaml, want string }{
		{"NaN", lat(".nan"), "audit.yaml:4: vantages[0] oslo-nix-1: latitude .nan: want a number from -90 to 90"},
		{"Inf", strings.Replace(goodConfig, "longitude: 10.75", "longitude: -.inf", 1), "audit.yaml:4: vantages[0] oslo-nix-1: longitude -.inf: want a number from -180 to 180"},
		{"empty targets", strings.Replace(goodConfig, "targets:\n  - {name: nix, lab_rtt: 2ms, port: 443}\n", "targets: []\n", 1),
			"audit.yaml:5: targets: the list is empty"},
		{"no targets", strings.Replace(goodConfig, "targets:\n  - {name: nix, lab_rtt: 2ms, port: 443}\n", "", 1), "audit.yaml: targets: the list is empty"},
		{"dotted quad", strings.Replace(goodConfig, "lab_rtt: 2ms", "host: 300.1.1.1", 1), `audit.yaml:6: targets[0] nix: host: target "300.1.1.1:443": not a valid IP address`},
		{"count", goodConfig + "probes: {count: 2000000000}\n", "audit.yaml:8: probes: count 2000000000 is over the limit of 86400"},
	}
	for _, tc := range cases {
		_, err := ParseConfig("audit.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line containing %q", tc.name, err, tc.want)
		}
	}
}
