package cloud

import (
	"net/netip"
	"os"
	"strings"
	"testing"
)

// FuzzRanges feeds the provider-file parser; it must not panic, an error must name the file, and every
// prefix a parsed file lists must be found again by Lookup (the round trip from file to table).
func FuzzRanges(f *testing.F) {
	for _, p := range []string{"testdata/aws-ip-ranges.json", "testdata/gcp-cloud.json", "testdata/azure-servicetags.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"syncToken":"1","createDate":"x","prefixes":[{"ip_prefix":"10.0.0.0/8","region":"eu-north-1"}]}`))
	f.Add([]byte(`{"changeNumber":1,"values":[{"properties":{"addressPrefixes":["::/0"]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &Ranges{table: map[netip.Prefix]*entry{}}
		if err := r.parse("fuzz.json", data); err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		r.index()
		if len(r.sources) != 1 || r.sources[0].Prefixes == 0 {
			t.Fatalf("parsed without a source or prefixes: %+v", r.sources)
		}
		for p := range r.table {
			if _, ok := r.Lookup(p.Addr()); !ok {
				t.Fatalf("prefix %v is in the table but Lookup(%v) finds nothing", p, p.Addr())
			}
		}
	})
}
