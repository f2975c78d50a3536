package cloud

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// go test -run '^$' -bench . -cpu 1 ./geoip/cloud/
func BenchmarkLookup(b *testing.B) {
	r, err := LoadAll([]string{"testdata/aws-ip-ranges.json", "testdata/gcp-cloud.json", "testdata/azure-servicetags.json"})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	addrs := make([]netip.Addr, 1<<12)
	for i := range addrs {
		u := rng.Uint32()
		addrs[i] = netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Lookup(addrs[i&(len(addrs)-1)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}
