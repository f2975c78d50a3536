package reports

import (
	"fmt"
	"strconv"
	"time"
)

// MonitoringRow is one vantage's view of one target and probe kind across the audited period, from its
// agents' signed per-interval summaries (monitoring between audits). Min and Max are over every
// interval; Median is the median of the interval medians and P95 the 95th percentile of the interval
// p95s. Durations are zero when no reply was received.
type MonitoringRow struct {
	Vantage string
	Target  string
	Address string
	Kind    string // icmp or tcp
	// First is the first interval's start, Last the last interval's end.
	First, Last time.Time
	Intervals   int
	Interval    time.Duration // the monitoring interval
	// Gaps counts the intervals missing between First and Last; LongestGap is the longest stretch
	// without one (shown as "max").
	Gaps       int
	LongestGap time.Duration
	Sent       int
	Received   int
	Min        time.Duration
	Median     time.Duration
	P95        time.Duration
	Max        time.Duration
}

func (r MonitoringRow) validate(layout string, i int) error {
	name := fmt.Sprintf("Monitoring[%d] (%s → %s)", i, r.Vantage, r.Target)
	switch {
	case r.Received < 0 || r.Sent < 0 || r.Received > r.Sent:
		return errModel(layout, name, fmt.Sprintf("has %d received of %d sent", r.Received, r.Sent))
	case r.Intervals <= 0 || r.Gaps < 0:
		return errModel(layout, name, fmt.Sprintf("has %d intervals and %d gaps", r.Intervals, r.Gaps))
	case r.First.IsZero() || r.Last.Before(r.First):
		return errModel(layout, name, "needs a first day no later than its last")
	}
	return nil
}

const monitoringMethod = "Measured by each vantage's agents every interval between audits and sent as signed summaries; " +
	"the audit put the figures, and a digest of exactly which summaries they come from, into its evidence chain. " +
	"Min and max are over every interval; median is the median of the interval medians, p95 the 95th percentile of the interval p95s."

// days is the span of days a row was measured over, as the reader needs it: first – last.
func (r MonitoringRow) days() string {
	last := r.Last
	if !last.After(r.First) || last.Equal(last.Truncate(24*time.Hour)) {
		last = last.Add(-time.Nanosecond) // an interval ending at midnight belongs to the day before
	}
	if fmtDate(r.First) == fmtDate(last) {
		return fmtDate(r.First)
	}
	return fmtDate(r.First) + " –\n" + fmtDate(last)
}

func (r MonitoringRow) coverage() string {
	s := strconv.Itoa(r.Intervals)
	if r.Interval > 0 {
		s += "\n× " + fmtDuration(r.Interval)
	}
	return s
}

func (r MonitoringRow) gaps() string {
	if r.Gaps == 0 {
		return "none"
	}
	return fmt.Sprintf("%d\nmax %s", r.Gaps, fmtDuration(r.LongestGap))
}

// fmtDuration prints a span in the largest unit that keeps it readable.
func fmtDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1f d", d.Hours()/24)
	case d >= 2*time.Hour:
		return fmt.Sprintf("%.1f h", d.Hours())
	case d >= time.Minute:
		return fmt.Sprintf("%.0f min", d.Minutes())
	default:
		return fmt.Sprintf("%.0f s", d.Seconds())
	}
}

// monitoringTable is the period's figures per vantage, target and probe kind.
func monitoringTable(d *doc, rows []MonitoringRow) {
	d.table([]column{
		{header: "Vantage", width: 18, align: "L"},
		{header: "Target", width: 27, align: "L"},
		{header: "Address", width: 20, align: "L", mono: true},
		{header: "Kind", width: 8, align: "L"},
		{header: "Days", width: 19, align: "L"},
		{header: "Intervals", width: 14, align: "R"},
		{header: "Gaps", width: 17, align: "R"},
		{header: "Loss", width: 11, align: "R"},
		{header: "Min", width: 11, align: "R"},
		{header: "Median", width: 13, align: "R"},
		{header: "p95", width: 11, align: "R"},
		{header: "Max", width: 11, align: "R"},
	}, len(rows), func(i int) []string {
		r := rows[i]
		stat := func(v time.Duration) string {
			if r.Received == 0 {
				return "—"
			}
			return fmtMS(v)
		}
		loss := "—"
		if r.Sent > 0 {
			loss = fmt.Sprintf("%.1f %%", 100*float64(r.Sent-r.Received)/float64(r.Sent))
		}
		return []string{orDash(r.Vantage), orDash(r.Target), orDash(r.Address), orDash(r.Kind), r.days(), r.coverage(), r.gaps(),
			loss, stat(r.Min), stat(r.Median), stat(r.P95), stat(r.Max)}
	})
}

// complianceMonitoring is the quarter's latency from the monitoring summaries, beside the audit's own
// measurements.
func complianceMonitoring(d *doc, rows []MonitoringRow) {
	if len(rows) == 0 {
		return
	}
	d.heading("Latency across the period (monitoring between audits)")
	d.paragraph(fontSans, "", 8.5, "Round-trip times in milliseconds over the days shown. "+monitoringMethod+
		" Where the audit checked residency physics, it took each vantage's minimum RTT per address over these days as a bound too: a minimum over the period is still a bound on distance.")
	d.f.Ln(1)
	monitoringTable(d, rows)
}

// salesMonitoring is the same across the period for the sales comparison.
func salesMonitoring(d *doc, rows []MonitoringRow) {
	if len(rows) == 0 {
		return
	}
	d.heading("Across the period")
	d.paragraph(fontSans, "", 8.5, "The figures above are from the audit's own run. These are from every interval of the days shown, in milliseconds. "+monitoringMethod)
	d.f.Ln(1)
	monitoringTable(d, rows)
}
