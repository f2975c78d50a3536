package residency

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/varde/varde/geoip"
)

// benchAddrs returns n pseudo-random public-looking IPv4 addresses, the same on every run.
func benchAddrs(n int) []netip.Addr {
	rng := rand.New(rand.NewPCG(4, 2026))
	out := make([]netip.Addr, n)
	for i := range out {
		v := rng.Uint32()
		out[i] = netip.AddrFrom4([4]byte{byte(v>>24)%223 + 1, byte(v >> 16), byte(v >> 8), byte(v)})
	}
	return out
}

// BenchmarkGeoIPLookup measures lookups on the shipped default database (run with -cpu 1 for one core).
func BenchmarkGeoIPLookup(b *testing.B) {
	db, err := geoip.OpenDefault()
	if err != nil {
		b.Fatal(err)
	}
	addrs := benchAddrs(1 << 16)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.Lookup(addrs[i&(1<<16-1)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkAudit100k judges 100,000 addresses end to end: inventory of IP-literal stores, resolution (literal
// pass-through of the real resolver), GeoIP lookup on the default database, rules, records of processing.
func BenchmarkAudit100k(b *testing.B) {
	const n = 100_000
	db, err := geoip.OpenDefault()
	if err != nil {
		b.Fatal(err)
	}
	inv := &Inventory{Path: "bench"}
	for i, a := range benchAddrs(n) {
		inv.Stores = append(inv.Stores, Store{Name: fmt.Sprintf("s%d", i), Location: a.String(), Hosts: []string{a.String()},
			Kind: "postgres", Purpose: "bench", Category: Ordinary, Role: Controller})
	}
	res0 := literalResolverB(b)
	date, _ := parseDay("2025-09-30")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Audit(context.Background(), Config{Date: date, Resolver: res0, Locators: []Locator{db}}, inv)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Stores) != n {
			b.Fatalf("%d stores", len(res.Stores))
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "addrs/s")
}

// BenchmarkJudgeAddressWithPhysics: the rules for one address with two RTT discs (the disc geometry is
// memoised per vantage and radius, as in an audit).
func BenchmarkJudgeAddressWithPhysics(b *testing.B) {
	db, err := geoip.OpenDefault()
	if err != nil {
		b.Fatal(err)
	}
	g, err := Countries()
	if err != nil {
		b.Fatal(err)
	}
	date, _ := parseDay("2025-09-30")
	r, _ := RulesAt(date)
	addr := netip.MustParseAddr("129.240.2.3")
	ans, _ := db.Lookup(addr)
	ev := AddressEvidence{Addr: addr, GeoIP: []geoip.Answer{ans}, RTT: []RTTObservation{rtt(oslo, 2), rtt(frankfurt, 15)}}
	s := Store{Name: "b", Category: Ordinary}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		JudgeAddress(r, g, s, "h", resolverResolution(addr), ev)
	}
}

// BenchmarkCountriesInDisc is the uncached geometry test for a 300 km and a 1,500 km disc around Oslo.
func BenchmarkCountriesInDisc(b *testing.B) {
	g, _ := Countries()
	for _, km := range []float64{300, 1500} {
		b.Run(fmt.Sprintf("%.0fkm", km), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				g.CountriesInDisc(59.91, 10.75, km)
			}
		})
	}
}
