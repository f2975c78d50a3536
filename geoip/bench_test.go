package geoip

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
)

// Run on one core: go test -run '^$' -bench Lookup -cpu 1 ./geoip/
// Addresses are pseudo-random (fixed seed) IPv4 and IPv6 so lookups walk different tree paths.
func benchAddrs(n int) []netip.Addr {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]netip.Addr, n)
	for i := range out {
		if i%4 == 3 {
			var b [16]byte
			b[0], b[1] = 0x2a, byte(r.IntN(16)) // 2a00::/12, RIPE space
			for j := 2; j < 16; j++ {
				b[j] = byte(r.Uint32())
			}
			out[i] = netip.AddrFrom16(b)
			continue
		}
		u := r.Uint32()
		out[i] = netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
	}
	return out
}

func benchLookup(b *testing.B, db *DB) {
	addrs := benchAddrs(1 << 14)
	b.ReportAllocs()
	b.ResetTimer()
	found := 0
	for i := 0; b.Loop(); i++ {
		a, err := db.Lookup(addrs[i&(len(addrs)-1)])
		if err != nil {
			b.Fatal(err)
		}
		if a.Found {
			found++
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

func BenchmarkLookupDefault(b *testing.B) {
	db, err := OpenDefault()
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	benchLookup(b, db)
}

func BenchmarkLookupMaxMindCityTest(b *testing.B) {
	db, err := Open("testdata/GeoIP2-City-Test.mmdb")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	benchLookup(b, db)
}

// A found City record (decoding cost) rather than mostly-missing random addresses.
func BenchmarkLookupMaxMindCityTestHit(b *testing.B) {
	db, err := Open("testdata/GeoIP2-City-Test.mmdb")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	addr := netip.MustParseAddr("81.2.69.142")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.Lookup(addr); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

func BenchmarkOpenDefault(b *testing.B) {
	for b.Loop() {
		db, err := OpenDefault()
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}

// Peers: the libraries underneath without varde's wrapper, same addresses, same run; the ratio
// to BenchmarkLookupDefault / BenchmarkLookupMaxMindCityTest is the wrapper's cost.
func BenchmarkPeerMaxminddbCountryCode(b *testing.B) {
	data, _, _, err := loadDefault()
	if err != nil {
		b.Fatal(err)
	}
	mm, err := maxminddb.OpenBytes(data)
	if err != nil {
		b.Fatal(err)
	}
	addrs := benchAddrs(1 << 14)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		var rec countryCodeRecord
		if err := mm.Lookup(addrs[i&(len(addrs)-1)]).Decode(&rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

func BenchmarkPeerGeoip2CityTest(b *testing.B) {
	r, err := geoip2.Open("testdata/GeoIP2-City-Test.mmdb")
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	addrs := benchAddrs(1 << 14)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := r.City(addrs[i&(len(addrs)-1)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}
