package reports

import "time"

// FormatMS formats a time in milliseconds as the reports print it, so the web console shows the same
// figures as the PDFs.
func FormatMS(d time.Duration) string { return fmtMS(d) }

// SalesChartColours are the sales chart's RGB colours: ICMP p50 and p95, TCP p50 and p95.
func SalesChartColours() (icmp50, icmp95, tcp50, tcp95 [3]int) {
	return colICMP50, colICMP95, colTCP50, colTCP95
}

// NiceStep is the sales chart's axis step for a largest value: 1, 2 or 5 × 10^n, about six ticks.
func NiceStep(maxV float64) float64 { return niceStep(maxV) }
