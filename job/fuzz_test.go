package job

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// FuzzConfig feeds ParseConfig; it must not panic, errors must name the file on one line, and a parsed
// config must survive what the audit does with it: it is stored as JSON in the audits row, so it must
// marshal (NaN did not) and read back to the same JSON.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(goodConfig))
	if b, err := os.ReadFile("../demo/audit.yaml"); err == nil {
		f.Add(b)
	} else {
		f.Fatal(err)
	}
	f.Add([]byte(strings.Replace(goodConfig, "latitude: 59.91", "latitude: .nan", 1)))
	f.Add([]byte(goodConfig + "probes: {count: 3, interval: 5ms, timeout: 1s, icmp: false}\n"))
	f.Add([]byte(strings.Replace(goodConfig, "lab_rtt: 2ms", "host: '[2001:db8::1]'", 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("audit.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "audit.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("parsed config does not marshal: %v", err)
		}
		var back Config
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("stored config does not read back: %v\n%s", err, b)
		}
		b2, err := json.Marshal(&back)
		if err != nil || string(b2) != string(b) {
			t.Fatalf("JSON round trip differs:\n%s\n%s", b, b2)
		}
	})
}
