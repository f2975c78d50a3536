package residency

import (
	"os"
	"strings"
	"testing"
)

// FuzzInventory feeds ParseInventory; it must not panic, errors must name the file, and a parsed
// inventory must hold what its stores need (name, hosts, a known category and role, a file:line).
func FuzzInventory(f *testing.F) {
	b, err := os.ReadFile("testdata/sample-inventory.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("version: 1\nstores:\n  - name: a\n    url: postgres://u@db1:5432,db2:5433/x\n    kind: postgres\n    purpose: p\n    data_category: special\n    role: processor\n    transfer_mechanism: {type: sccs, reference: C-1}\n"))
	f.Add([]byte("stores:\n  - {name: b, host: '[2001:db8::1]:443', kind: s3, purpose: p, data_category: ordinary, role: controller, recipient: EPO}\n"))
	f.Add([]byte("stores: [{name: c, host: 300.1.1.1}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := ParseInventory("inv.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "inv.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if len(inv.Stores) == 0 {
			t.Fatal("parsed an inventory without stores")
		}
		for _, s := range inv.Stores {
			if s.Name == "" || len(s.Hosts) == 0 || !strings.HasPrefix(s.Pos, "inv.yaml:") ||
				(s.Category != Ordinary && s.Category != Special) || (s.Role != Controller && s.Role != Processor) {
				t.Fatalf("incomplete store %+v", s)
			}
			// Hosts come back out of ExtractHosts unchanged: they are already in their plain form.
			for _, h := range s.Hosts {
				if got, err := ExtractHosts(h); err != nil || len(got) != 1 || got[0] != h {
					t.Fatalf("host %q of %q does not round-trip: %v %v", h, s.Location, got, err)
				}
			}
		}
	})
}
