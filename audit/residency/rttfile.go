package residency

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/varde/varde"
)

// ParseVantage parses "NAME=LAT,LON" (degrees, north and east positive).
func ParseVantage(s string) (Vantage, error) {
	name, coords, ok := strings.Cut(s, "=")
	lat, lon, ok2 := strings.Cut(coords, ",")
	if !ok || !ok2 || strings.TrimSpace(name) == "" {
		return Vantage{}, fmt.Errorf("vantage %q: want NAME=LAT,LON", s)
	}
	la, err1 := strconv.ParseFloat(strings.TrimSpace(lat), 64)
	lo, err2 := strconv.ParseFloat(strings.TrimSpace(lon), 64)
	if err1 != nil || err2 != nil || !(la >= -90 && la <= 90 && lo >= -180 && lo <= 180) { // NaN fails too
		return Vantage{}, fmt.Errorf("vantage %q: latitude must be in [-90,90] and longitude in [-180,180]", s)
	}
	return Vantage{Name: strings.TrimSpace(name), Lat: la, Lon: lo}, nil
}

// probeLine is the part of a `varde probe --json` line the physics check needs.
type probeLine struct {
	Vantage  string   `json:"vantage"`
	Address  string   `json:"address"`
	Kind     string   `json:"kind"`
	Started  string   `json:"started"`
	Received *int     `json:"received"`
	MinMs    *float64 `json:"min_ms"`
}

// LoadProbeRTT reads `varde probe --json` output (JSON lines) and returns the minimum RTT per address and
// vantage. vantages gives each vantage's coordinates; a line from a vantage without coordinates is an error
// naming file:line. Only ICMP lines are used: a TCP handshake time includes the server's accept path.
func LoadProbeRTT(path string, vantages map[string]Vantage) (RTTTable, error) {
	f, err := varde.OpenFile(path, rttLimit)
	if err != nil {
		return nil, fmt.Errorf("rtt file: %w", err)
	}
	defer f.Close()
	return ParseProbeRTT(path, f, vantages)
}

// ParseProbeRTT is LoadProbeRTT on a reader; name is used in errors.
func ParseProbeRTT(name string, r io.Reader, vantages map[string]Vantage) (RTTTable, error) {
	t := RTTTable{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var p probeLine
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if p.Kind != "icmp" || p.Address == "" || p.Received == nil || *p.Received == 0 || p.MinMs == nil {
			continue
		}
		addr, err := netip.ParseAddr(p.Address)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: address %q: %w", name, n, p.Address, err)
		}
		v, ok := vantages[p.Vantage]
		if !ok {
			return nil, fmt.Errorf("%s:%d: vantage %q has no coordinates (give --vantage %s=LAT,LON)", name, n, p.Vantage, p.Vantage)
		}
		if *p.MinMs <= 0 {
			return nil, fmt.Errorf("%s:%d: min_ms %v is not positive", name, n, *p.MinMs)
		}
		at, _ := time.Parse(time.RFC3339Nano, p.Started)
		o := RTTObservation{Vantage: v, Addr: addr.Unmap(), MinRTT: time.Duration(*p.MinMs * float64(time.Millisecond)),
			Received: *p.Received, MeasuredAt: at}
		// Keep the lowest minimum per vantage.
		merged := false
		for i, prev := range t[o.Addr] {
			if prev.Vantage.Name == v.Name {
				if o.MinRTT < prev.MinRTT {
					t[o.Addr][i] = o
				}
				merged = true
			}
		}
		if !merged {
			t[o.Addr] = append(t[o.Addr], o)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}
