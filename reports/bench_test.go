package reports

import (
	"bytes"
	"testing"
)

// BenchmarkCompliance10k renders the benchmark report (10,000 findings, 1,000 latency rows)
// unsigned; bench/report measures the signed file, peak RSS and size.
func BenchmarkCompliance10k(b *testing.B) {
	m := bigCompliance(10000, 1000)
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := Compliance(&buf, m, Options{Now: fixedClock}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "pdf-bytes")
}

func BenchmarkSales(b *testing.B) {
	m := sampleSales()
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := Sales(&buf, m, Options{Now: fixedClock}); err != nil {
			b.Fatal(err)
		}
	}
}
