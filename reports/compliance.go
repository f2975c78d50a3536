package reports

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Verdict is the report's word for a finding's outcome. The caller maps each rule's own verdicts onto
// these; a word the report does not know sorts after the known ones, alphabetically, so nothing is hidden.
type Verdict string

// The report's verdicts, in the order it lists them.
const (
	VerdictViolation    Verdict = "violation"
	VerdictWarning      Verdict = "warning"
	VerdictInconclusive Verdict = "inconclusive"
	VerdictPass         Verdict = "pass"
	VerdictCompliant    Verdict = "compliant"
)

// Severity is how much a finding matters, as the report orders it.
type Severity string

// The report's severities, most severe first.
const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
	SeverityInfo     Severity = "info"
)

var (
	verdictOrder  = []Verdict{VerdictViolation, VerdictWarning, VerdictInconclusive, VerdictPass, VerdictCompliant}
	severityOrder = []Severity{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityInfo}
)

// VerdictRank is the position of a verdict in the report's order: violations first.
func VerdictRank(v Verdict) int { return rank(verdictOrder, v) }

// SeverityRank is the position of a severity in the report's order: critical first.
func SeverityRank(s Severity) int { return rank(severityOrder, s) }

func rank[W ~string](order []W, s W) int {
	s = W(strings.ToLower(strings.TrimSpace(string(s))))
	if i := slices.Index(order, s); i >= 0 {
		return i
	}
	return len(order)
}

// SortFindings orders findings as the report prints them: by verdict (violations first), then
// severity, rule ID and subject. The sort is stable so equal findings keep their stored order.
func SortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(VerdictRank(a.Verdict), VerdictRank(b.Verdict)),
			cmp.Compare(strings.ToLower(string(a.Verdict)), strings.ToLower(string(b.Verdict))),
			cmp.Compare(SeverityRank(a.Severity), SeverityRank(b.Severity)),
			cmp.Compare(a.RuleID, b.RuleID),
			cmp.Compare(a.Subject, b.Subject),
		)
	})
}

func (m *ComplianceModel) validate() error {
	const l = "compliance"
	switch {
	case strings.TrimSpace(m.Organisation) == "":
		return errModel(l, "Organisation", "is empty")
	case strings.TrimSpace(m.AuditID) == "":
		return errModel(l, "AuditID", "is empty")
	case m.Period.From.IsZero() || m.Period.Until.IsZero():
		return errModel(l, "Period", "needs both From and Until")
	case m.Period.Until.Before(m.Period.From):
		return errModel(l, "Period", fmt.Sprintf("ends (%s) before it starts (%s)", fmtDate(m.Period.Until), fmtDate(m.Period.From)))
	case !m.Finished.IsZero() && m.Finished.Before(m.Started):
		return errModel(l, "Finished", "is before Started")
	}
	for i, r := range m.Latency {
		if r.Received > r.Sent || r.Sent < 0 || r.Received < 0 {
			return errModel(l, fmt.Sprintf("Latency[%d] (%s → %s)", i, r.Vantage, r.Target), fmt.Sprintf("has %d received of %d sent", r.Received, r.Sent))
		}
		if r.Loss < 0 || r.Loss > 1 {
			return errModel(l, fmt.Sprintf("Latency[%d] (%s → %s)", i, r.Vantage, r.Target), fmt.Sprintf("has loss %v outside 0..1", r.Loss))
		}
	}
	for i, r := range m.Monitoring {
		if err := r.validate(l, i); err != nil {
			return err
		}
	}
	return nil
}

// Compliance renders the quarterly compliance report for one audit to w. The model is not modified;
// findings are printed in SortFindings order.
func Compliance(w io.Writer, m ComplianceModel, opts Options) error {
	if w == nil {
		return errNilWriter
	}
	if err := m.validate(); err != nil {
		return err
	}
	opts = opts.withDefaults("Quarterly compliance report")
	findings := slices.Clone(m.Findings)
	SortFindings(findings)

	d := newDoc(opts)
	d.subtitle = m.Organisation + " · " + fmtDate(m.Period.From) + " – " + fmtDate(m.Period.Until) + " · audit " + m.AuditID
	d.f.SetSubject("Compliance evidence for audit "+m.AuditID, true)
	d.f.SetKeywords("varde audit "+m.AuditID, true)

	complianceCover(d, &m)
	complianceSummary(d, m.Headline, findings)
	complianceFindings(d, findings)
	complianceResidency(d, m.Residency)
	complianceLatency(d, m.Latency)
	complianceMonitoring(d, m.Monitoring)
	complianceGuest(d, m.GuestChecks)
	complianceAppendix(d, &m)
	return d.finish(w)
}

func complianceCover(d *doc, m *ComplianceModel) {
	f := d.f
	d.newPage()
	f.SetY(40)
	d.font(fontSans, "B", 22)
	for _, l := range d.wrap(d.title, pageW-2*MarginMM) {
		f.SetX(MarginMM)
		f.CellFormat(0, 10, l, "", 1, "L", false, 0, "")
	}
	d.font(fontSans, "", 14)
	for _, l := range d.wrap(m.Organisation, pageW-2*MarginMM) {
		f.SetX(MarginMM)
		f.CellFormat(0, 7, l, "", 1, "L", false, 0, "")
	}
	f.Ln(2)
	d.paragraph(fontSans, "", 10, "Evidence of where personal data is stored and processed, for the Norwegian Data Protection Authority (Datatilsynet). Personopplysningsloven makes the GDPR Norwegian law; transfers out of the EEA need GDPR Art. 45–49.")
	f.Ln(6)
	kind := m.AuditKind
	if kind == "" {
		kind = "—"
	}
	d.keyValues(45, [][2]string{
		{"Period", fmtDate(m.Period.From) + " – " + fmtDate(m.Period.Until)},
		{"Audit ID", m.AuditID},
		{"Audit kind", kind},
		{"Started", fmtTime(m.Started)},
		{"Finished", fmtTime(m.Finished)},
		{"Tool version", orDash(m.ToolVersion)},
		{"Rules version", orDash(m.RulesVersion)},
		{"Report generated", fmtTime(d.now)},
	})
	d.heading("Vantage points")
	if len(m.Vantages) == 0 {
		d.paragraph(fontSans, "", 9.5, "No vantage points are recorded for this audit.")
		return
	}
	d.table([]column{
		{header: "Name", width: 45, align: "L"},
		{header: "City", width: 35, align: "L"},
		{header: "Coordinates", width: 45, align: "L"},
		{header: "Network", width: 55, align: "L"},
	}, len(m.Vantages), func(i int) []string {
		v := m.Vantages[i]
		return []string{v.Name, orDash(v.City), fmtCoord(v.Lat, v.Lon), orDash(v.Network)}
	})
}

func complianceSummary(d *doc, h *Headline, findings []Finding) {
	d.newPage()
	d.heading("Summary")
	if h != nil {
		d.paragraph(fontSans, "B", 12, fmt.Sprintf("Data stores: %d compliant · %d not compliant · %d not shown compliant",
			h.Compliant, h.NotCompliant, h.NotShownCompliant))
		d.paragraph(fontSans, "", 9, "Not shown compliant counts every store whose location is unknown, anycast, or "+
			"needs review (witnesses that contradict each other, a missing or stale declaration): the controller "+
			"must be able to demonstrate compliance (GDPR Art. 5(2)), so these are not compliant until shown.")
		d.f.Ln(2)
	}
	type count struct {
		verdict string
		bySev   map[Severity]int
		total   int
	}
	var counts []*count
	idx := map[string]*count{}
	for _, fd := range findings { // findings are sorted, so verdicts appear in report order
		v := strings.ToLower(strings.TrimSpace(string(fd.Verdict)))
		if v == "" {
			v = "(none)"
		}
		c, ok := idx[v]
		if !ok {
			c = &count{verdict: v, bySev: map[Severity]int{}}
			idx[v] = c
			counts = append(counts, c)
		}
		c.bySev[Severity(strings.ToLower(strings.TrimSpace(string(fd.Severity))))]++
		c.total++
	}
	if len(findings) == 0 {
		d.paragraph(fontSans, "", 9.5, "The audit produced no findings.")
		return
	}
	viol := 0
	if c, ok := idx[string(VerdictViolation)]; ok {
		viol = c.total
	}
	line := fmt.Sprintf("%d findings; %d violations.", len(findings), viol)
	if viol > 0 {
		line += " Violations are listed first, most severe first."
	}
	d.paragraph(fontSans, "B", 10, line)
	d.f.Ln(2)
	sevCols := slices.Clone(severityOrder)
	extra := map[Severity]bool{}
	for _, c := range counts {
		for s := range c.bySev {
			if SeverityRank(s) == len(severityOrder) {
				extra[s] = true
			}
		}
	}
	hasOther := len(extra) > 0
	cols := []column{{header: "Verdict", width: 40, align: "L"}}
	for _, s := range sevCols {
		cols = append(cols, column{header: string(s), width: 20, align: "R"})
	}
	if hasOther {
		cols = append(cols, column{header: "other", width: 20, align: "R"})
	}
	cols = append(cols, column{header: "Total", width: 20, align: "R"})
	d.table(cols, len(counts), func(i int) []string {
		c := counts[i]
		row := []string{c.verdict}
		other := c.total
		for _, s := range sevCols {
			row = append(row, strconv.Itoa(c.bySev[s]))
			other -= c.bySev[s]
		}
		if hasOther {
			row = append(row, strconv.Itoa(other))
		}
		return append(row, strconv.Itoa(c.total))
	})
}

func complianceFindings(d *doc, findings []Finding) {
	if len(findings) == 0 {
		return
	}
	d.heading("Findings")
	d.table([]column{
		{header: "#", width: 10, align: "R"},
		{header: "Verdict / severity", width: 22, align: "L"},
		{header: "Subject", width: 30, align: "L"},
		{header: "Rule / reference", width: 33, align: "L"},
		{header: "Finding", width: 50, align: "L"},
		{header: "Evidence", width: 35, align: "L"},
	}, len(findings), func(i int) []string {
		fd := findings[i]
		return []string{
			strconv.Itoa(i + 1),
			orDash(string(fd.Verdict)) + "\n" + orDash(string(fd.Severity)),
			orDash(fd.Subject),
			orDash(fd.RuleID) + "\n" + orDash(fd.LegalReference),
			orDash(fd.Text),
			orDash(fd.Evidence),
		}
	})
}

func complianceResidency(d *doc, rows []ResidencyRow) {
	d.heading("Data-store residency")
	if len(rows) == 0 {
		d.paragraph(fontSans, "", 9.5, "No data stores were judged in this audit.")
		return
	}
	d.table([]column{
		{header: "Data store", width: 29, align: "L"},
		{header: "Addresses", width: 27, align: "L", mono: true},
		{header: "Country", width: 13, align: "L"},
		{header: "Verdict", width: 15, align: "L"},
		{header: "Legal basis", width: 31, align: "L"},
		{header: "Physics check", width: 30, align: "L"},
		{header: "GeoIP database", width: 35, align: "L", mono: true},
	}, len(rows), func(i int) []string {
		r := rows[i]
		return []string{
			orDash(r.Store),
			orDash(strings.Join(r.Addresses, "\n")),
			orDash(r.Country),
			orDash(r.Verdict),
			orDash(r.LegalBasis),
			orDash(r.Physics),
			provenance(r.GeoIP),
		}
	})
}

func provenance(p DatabaseProvenance) string {
	if p.Type == "" && p.SHA256 == "" {
		return "—"
	}
	out := orDash(p.Type) + "\nbuilt " + fmtDate(p.BuildDate)
	if p.AgeKnown {
		out += fmt.Sprintf(", %d days old", p.AgeDays)
	}
	if p.Basis != "" {
		out += "\n" + p.Basis
	}
	return out + "\nsha256 " + orDash(p.SHA256)
}

func complianceLatency(d *doc, rows []LatencyRow) {
	d.heading("Latency evidence")
	if len(rows) == 0 {
		d.paragraph(fontSans, "", 9.5, "No latency measurements are stored for this audit.")
		return
	}
	d.paragraph(fontSans, "", 8.5, "Round-trip times in milliseconds. ICMP rows are echo round trips; TCP rows are handshake (SYN to SYN-ACK) times. Statistics are over received replies only; loss is (sent − received) / sent. Day is when the audit took the measurement.")
	d.f.Ln(1)
	d.table([]column{
		{header: "Vantage", width: 19, align: "L"},
		{header: "Target", width: 25, align: "L"},
		{header: "Address", width: 23, align: "L", mono: true},
		{header: "Kind", width: 8, align: "L"},
		{header: "Day", width: 16, align: "L"},
		{header: "Sent", width: 8, align: "R"},
		{header: "Recv", width: 8, align: "R"},
		{header: "Loss", width: 10, align: "R"},
		{header: "Min", width: 12.6, align: "R"},
		{header: "Median", width: 12.6, align: "R"},
		{header: "p95", width: 12.6, align: "R"},
		{header: "Max", width: 12.6, align: "R"},
		{header: "Jitter", width: 12.6, align: "R"},
	}, len(rows), func(i int) []string {
		r := rows[i]
		stat := func(v string) string {
			if r.Received == 0 {
				return "—"
			}
			return v
		}
		return []string{
			orDash(r.Vantage), orDash(r.Target), orDash(r.Address), orDash(r.Kind), fmtDate(r.Measured),
			strconv.Itoa(r.Sent), strconv.Itoa(r.Received), fmt.Sprintf("%.1f %%", r.Loss*100),
			stat(fmtMS(r.Min)), stat(fmtMS(r.Median)), stat(fmtMS(r.P95)), stat(fmtMS(r.Max)), stat(fmtMS(r.Jitter)),
		}
	})
}

func complianceGuest(d *doc, rows []GuestCheckRow) {
	d.heading("Guest tuning checks")
	if len(rows) == 0 {
		d.paragraph(fontSans, "", 9.5, "No guest tuning checks were run in this audit.")
		return
	}
	d.table([]column{
		{header: "Host", width: 29, align: "L"},
		{header: "Check", width: 36, align: "L"},
		{header: "Result", width: 11, align: "L"},
		{header: "Observed", width: 27, align: "L"},
		{header: "Expected", width: 27, align: "L"},
		{header: "Remediation", width: 50, align: "L", mono: true},
	}, len(rows), func(i int) []string {
		r := rows[i]
		check := orDash(r.ID)
		if r.Title != "" {
			check += "\n" + r.Title
		}
		return []string{orDash(r.Host), check, orDash(r.Result), orDash(r.Observed), orDash(r.Expected), orDash(r.Remediation)}
	})
}

func complianceAppendix(d *doc, m *ComplianceModel) {
	d.newPage()
	d.heading("Evidence appendix")
	ev := m.Evidence
	d.paragraph(fontSans, "", 9.5, "Every measurement, observation, check result and finding of this audit is stored as an append-only evidence row in a hash chain: each row's hash is sha256(previous hash || canonical row). The head hash below commits to every row; recomputing the chain from the stored rows must give the same head.")
	d.f.Ln(2)
	d.keyValues(45, [][2]string{
		{"Audit ID", m.AuditID},
		{"Chain length", strconv.FormatInt(ev.ChainLength, 10) + " rows"},
	})
	d.font(fontSans, "B", 9.5)
	d.ensure(10)
	d.f.SetX(MarginMM)
	d.f.CellFormat(45, 4.6, "Chain head", "", 0, "L", false, 0, "")
	d.font(fontMono, "", 9)
	head := orDash(ev.ChainHead)
	for _, l := range d.wrap(head, pageW-2*MarginMM-45) {
		d.f.SetX(MarginMM + 45)
		d.f.CellFormat(0, 4.6, l, "", 1, "L", false, 0, "")
	}
	d.f.Ln(2)
	if lg := ev.Log; lg != nil {
		d.paragraph(fontSans, "", 9.5, "The audit is sealed in the evidence log, a Merkle tree across audits whose checkpoints are signed with a key the database never holds. This PDF embeds the file "+EvidenceFile+" with the head, the inclusion proof and the signed checkpoint: `varde verify --pdf` checks them against the database, and any checkpoint handed out later must extend this one.")
		d.f.Ln(1)
		d.keyValues(45, [][2]string{
			{"Log", lg.Origin},
			{"Seal", fmt.Sprintf("leaf %d of %d", lg.LeafIndex, lg.TreeSize)},
			{"Checkpoint root", lg.Root},
		})
		d.f.Ln(2)
	}

	d.heading("Evidence rows by kind")
	if len(ev.Counts) == 0 {
		d.paragraph(fontSans, "", 9.5, "No evidence rows are recorded.")
	} else {
		var total int64
		for _, c := range ev.Counts {
			total += c.Rows
		}
		d.table([]column{
			{header: "Kind", width: 60, align: "L"},
			{header: "Rows", width: 30, align: "R"},
		}, len(ev.Counts)+1, func(i int) []string {
			if i == len(ev.Counts) {
				return []string{"total", strconv.FormatInt(total, 10)}
			}
			return []string{ev.Counts[i].Kind, strconv.FormatInt(ev.Counts[i].Rows, 10)}
		})
	}

	d.heading("Database provenance")
	if len(ev.Databases) == 0 {
		d.paragraph(fontSans, "", 9.5, "No databases are recorded.")
	} else {
		d.table([]column{
			{header: "Database", width: 40, align: "L"},
			{header: "Build date, age", width: 30, align: "L"},
			{header: "Basis", width: 25, align: "L"},
			{header: "sha256", width: 85, align: "L", mono: true},
		}, len(ev.Databases), func(i int) []string {
			p := ev.Databases[i]
			built := fmtDate(p.BuildDate)
			if p.AgeKnown {
				built += fmt.Sprintf("\n%d days old", p.AgeDays)
			}
			return []string{orDash(p.Type), built, orDash(p.Basis), orDash(p.SHA256)}
		})
	}

	if len(ev.Notes) > 0 {
		d.heading("Notes")
		for _, n := range ev.Notes {
			d.paragraph(fontSans, "", 9.5, "• "+n)
		}
	}

	d.heading("How to verify this report")
	d.paragraph(fontSans, "", 9.5, "This PDF carries an embedded PAdES signature (detached CMS). To check that the file is unchanged since signing and who signed it:")
	d.f.Ln(1)
	for _, c := range []string{
		"pdfsig report.pdf",
		"varde report verify report.pdf --ca ca.pem",
		"varde verify --audit " + m.AuditID,
	} {
		d.paragraph(fontMono, "", 9, "  $ "+c)
	}
	d.f.Ln(1)
	d.paragraph(fontSans, "", 9.5, "pdfsig (poppler-utils) must print \"Signature is Valid.\" and \"Total document signed\". varde report verify also checks that the signer's certificate chains to the given CA and reports any bytes added after signing. varde verify recomputes the evidence hash chain from the stored rows and must end at the chain head printed above.")
}
