package job

import (
	"errors"
	"strings"
	"testing"

	"github.com/varde/varde"

	"github.com/varde/varde/audit/residency"
)

// FuzzProbeRTT feeds the `varde probe --json` reader; it must not panic, errors must name file:line,
// and every observation must have a positive RTT, a received count and a known vantage.
func FuzzProbeRTT(f *testing.F) {
	f.Add([]byte(`{"vantage":"oslo","target":"a","address":"192.0.2.1","kind":"icmp","started":"2026-01-01T00:00:00Z","received":3,"min_ms":1.25}` + "\n" +
		`{"vantage":"oslo","address":"::ffff:192.0.2.1","kind":"icmp","received":1,"min_ms":0.5}` + "\n" +
		`{"vantage":"oslo","address":"2001:db8::1","kind":"tcp","received":1,"min_ms":0.5}` + "\n"))
	f.Add([]byte(`{"vantage":"bergen","address":"192.0.2.1","kind":"icmp","received":1,"min_ms":1}`))
	f.Add([]byte(`{"vantage":"oslo","address":"x","kind":"icmp","received":1,"min_ms":-1e308}`))
	vantages := map[string]residency.Vantage{"oslo": {Name: "oslo", Lat: 59.91, Lon: 10.75}}
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := ParseProbeRTT("rtt.jsonl", strings.NewReader(string(data)), vantages)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "rtt.jsonl") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for addr, obs := range tab {
			if addr != addr.Unmap() {
				t.Fatalf("address %v not unmapped", addr)
			}
			for _, o := range obs {
				if o.MinRTT <= 0 || o.Received <= 0 || o.Vantage.Name != "oslo" {
					t.Fatalf("bad observation %+v", o)
				}
			}
		}
	})
}

func TestLoadProbeRTTRefusesDevices(t *testing.T) {
	t.Parallel()
	if _, err := LoadProbeRTT("/dev/zero", nil); !errors.Is(err, varde.ErrNotRegular) {
		t.Errorf("rtt /dev/zero: %v", err)
	}
}
