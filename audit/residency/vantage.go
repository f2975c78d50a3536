package residency

import (
	"fmt"
	"strconv"
	"strings"
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
