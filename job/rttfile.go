package job

import (
	"fmt"
	"github.com/varde/varde"
	"io"
	"net/netip"
	"time"

	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/probes"
)

// LoadProbeRTT reads `varde probe --json` output (probes.Line, JSON lines) and returns the minimum RTT per
// address and vantage for the residency physics check. vantages gives each vantage's coordinates; a line
// from a vantage without coordinates is an error naming file:line. Only ICMP lines are used: a TCP
// handshake time includes the server's accept path.
func LoadProbeRTT(path string, vantages map[string]residency.Vantage) (residency.RTTTable, error) {
	f, err := varde.OpenFile(path, rttLimit)
	if err != nil {
		return nil, fmt.Errorf("rtt file: %w", err)
	}
	defer f.Close()
	return ParseProbeRTT(path, f, vantages)
}

// ParseProbeRTT is LoadProbeRTT on a reader; name is used in errors.
func ParseProbeRTT(name string, r io.Reader, vantages map[string]residency.Vantage) (residency.RTTTable, error) {
	t := residency.RTTTable{}
	err := probes.ReadJSONLines(name, r, func(_ int, l probes.Line) error {
		if l.Kind != string(probes.KindICMP) || l.Address == "" || l.Received == 0 || l.MinMS == nil {
			return nil
		}
		addr, err := netip.ParseAddr(l.Address)
		if err != nil {
			return fmt.Errorf("address %q: %w", l.Address, err)
		}
		v, ok := vantages[l.Vantage]
		if !ok {
			return fmt.Errorf("vantage %q has no coordinates (give --vantage %s=LAT,LON, or name it under vantages: in the audit config)", l.Vantage, l.Vantage)
		}
		if *l.MinMS <= 0 {
			return fmt.Errorf("min_ms %v is not positive", *l.MinMS)
		}
		at, err := time.Parse(time.RFC3339Nano, l.Started)
		if err != nil {
			return fmt.Errorf("started %q: want an RFC 3339 time", l.Started)
		}
		t.Add(residency.RTTObservation{Vantage: v, Addr: addr, MinRTT: time.Duration(*l.MinMS * float64(time.Millisecond)),
			Received: l.Received, MeasuredAt: at})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// rttLimit bounds a probe JSON-lines file: 10,000 targets with 20 samples each is about 40 MiB.
var rttLimit = varde.Limit{What: "a probe JSON-lines file", Bytes: 256 << 20}
