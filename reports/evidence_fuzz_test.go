package reports_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/varde/varde/reports"
)

// FuzzExtractEvidence: a hostile PDF handed to varde verify --pdf gives an error, never a panic or a hang.
func FuzzExtractEvidence(f *testing.F) {
	var buf bytes.Buffer
	m := reports.ComplianceModel{Organisation: "Fjordnett AS", AuditID: "7",
		Period: reports.Period{From: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)}}
	now := func() time.Time { return time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC) }
	if err := reports.Compliance(&buf, m, reports.Options{Now: now, Evidence: []byte(`{"audit_id":7}`)}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("%PDF-1.7\n%%EOF\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := reports.ExtractEvidence(b)
		if err == nil && len(ev) > 1<<20 {
			t.Fatalf("%d bytes of evidence past the limit", len(ev))
		}
	})
}
