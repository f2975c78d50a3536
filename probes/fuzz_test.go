package probes

import (
	"strings"
	"testing"
)

// FuzzTargets feeds ParseTargets; it must not panic, errors must name file:line, and every target
// parsed must parse again from its Raw form to the same target.
func FuzzTargets(f *testing.F) {
	f.Add("# lab targets\n\noslo.example:22   # ssh\n198.18.0.1\n  \n2001:db8::2\n[2001:db8::3]:443\nfe80::1%eth0\n")
	f.Add("300.1.1.1\n")
	f.Add("a:b:c\n-lead.example\nhost:0\n")
	f.Fuzz(func(t *testing.T, in string) {
		ts, err := ParseTargets(strings.NewReader(in), "targets.txt")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "targets.txt:") {
				t.Fatalf("error does not name file:line: %v", err)
			}
			return
		}
		for _, tg := range ts {
			again, err := ParseTarget(tg.Raw)
			if err != nil || again != tg {
				t.Fatalf("%q parsed as %+v, again as %+v (%v)", tg.Raw, tg, again, err)
			}
			if tg.Host == "" {
				t.Fatalf("%q: empty host", tg.Raw)
			}
		}
	})
}
