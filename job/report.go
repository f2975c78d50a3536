package job

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/varde/varde"
	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/geoip"
	"github.com/varde/varde/reports"
	"github.com/varde/varde/reports/sign"
	"github.com/varde/varde/storage"
)

// storedAudit is everything a report is made from, read back from storage after the chain was verified.
type storedAudit struct {
	audit    storage.Audit
	cfg      Config
	chain    storage.ChainReport
	ms       []storage.Measurement
	obs      []storage.Observation
	checks   []storage.CheckResult
	findings []storage.Finding
	steps    []storage.Step
	// monitoring is the chain's monitoring entries (the period's figures from the agents' summaries) as
	// the reports show them.
	monitoring []reports.MonitoringRow
	seal       *reports.LogSeal // set when the reports are made with the evidence log
}

func loadStored(ctx context.Context, s *storage.Store, auditID int64) (*storedAudit, error) {
	a, err := s.GetAudit(ctx, auditID)
	if err != nil {
		return nil, err
	}
	// A report is evidence too: it is only made from a chain that holds.
	rep, err := s.Verify(ctx, auditID)
	if err != nil {
		return nil, err
	}
	if err := rep.Err(); err != nil {
		return nil, fmt.Errorf("refusing to report: %w", err)
	}
	sa := &storedAudit{audit: a, chain: rep}
	if err := json.Unmarshal(a.Config, &sa.cfg); err != nil {
		return nil, fmt.Errorf("audit %d: stored config: %w", auditID, err)
	}
	if sa.ms, err = s.Measurements(ctx, auditID); err != nil {
		return nil, err
	}
	if sa.obs, err = s.Observations(ctx, auditID); err != nil {
		return nil, err
	}
	if sa.checks, err = s.CheckResults(ctx, auditID); err != nil {
		return nil, err
	}
	if sa.findings, err = s.Findings(ctx, auditID); err != nil {
		return nil, err
	}
	if sa.steps, err = s.Steps(ctx, auditID); err != nil {
		return nil, err
	}
	es, err := s.MonitoringEntries(ctx, auditID)
	if err != nil {
		return nil, err
	}
	mes, err := monitoringEntries(es)
	if err == nil {
		sa.monitoring, err = monitoringRows(mes)
	}
	if err != nil {
		return nil, fmt.Errorf("audit %d: %w", auditID, err)
	}
	return sa, nil
}

func (sa *storedAudit) vantages() []reports.Vantage {
	var out []reports.Vantage
	for _, v := range sa.cfg.Vantages {
		out = append(out, reports.Vantage{Name: v.Name, City: v.City, Lat: v.Latitude, Lon: v.Longitude, Network: v.Network})
	}
	return out
}

// period is the audited period or, for an audit configured without one, the span it ran.
func (sa *storedAudit) period() reports.Period {
	p := reports.Period{From: sa.audit.StartedAt, Until: sa.audit.StartedAt}
	if sa.audit.FinishedAt != nil {
		p.Until = *sa.audit.FinishedAt
	}
	if sa.audit.PeriodStart != nil {
		p.From = *sa.audit.PeriodStart
	}
	if sa.audit.PeriodEnd != nil {
		p.Until = *sa.audit.PeriodEnd
	}
	return p
}

// reportVerdict maps a stored finding onto the report's verdict words, so violations lead.
func reportVerdict(f storage.Finding) (reports.Verdict, error) {
	switch residency.Verdict(f.Verdict) {
	case residency.VerdictMechanismRequired:
		compliant, err := findingCompliant(f)
		if err != nil {
			return "", err
		}
		if !compliant {
			return reports.VerdictViolation, nil
		}
		return reports.VerdictCompliant, nil
	case residency.VerdictUnknown, residency.VerdictNeedsReview:
		return reports.VerdictInconclusive, nil
	case residency.VerdictInEEA, residency.VerdictAdequate:
		return reports.VerdictCompliant, nil
	}
	// Evidence-quality findings (anycast, registered country, disagreeing witnesses) carry no verdict.
	switch residency.Severity(f.Severity) {
	case residency.SeverityCritical, residency.SeverityHigh, residency.SeverityMedium:
		return reports.VerdictWarning, nil
	}
	return reports.VerdictInconclusive, nil
}

// findingCompliant is the rule's compliance judgement of a finding: the compliant column, or for findings
// stored before it existed (schema version 1) the "compliant" their evidence JSON carries.
func findingCompliant(f storage.Finding) (bool, error) {
	if f.Compliant != nil {
		return *f.Compliant, nil
	}
	var ev struct {
		Compliant *bool `json:"compliant"`
	}
	if err := json.Unmarshal(f.Evidence, &ev); err != nil {
		return false, fmt.Errorf("finding %d (%s): evidence: %w", f.ID, f.Subject, err)
	}
	if ev.Compliant == nil {
		return false, fmt.Errorf("finding %d (%s): verdict %s but no compliant, neither stored nor in its evidence", f.ID, f.Subject, f.Verdict)
	}
	return *ev.Compliant, nil
}

// reportSeverity maps a rule's severity onto the report's words. A word it does not know is shown as
// stored, after the known ones.
func reportSeverity(s string) reports.Severity {
	switch residency.Severity(s) {
	case residency.SeverityCritical:
		return reports.SeverityCritical
	case residency.SeverityHigh:
		return reports.SeverityHigh
	case residency.SeverityMedium:
		return reports.SeverityMedium
	case residency.SeverityLow:
		return reports.SeverityLow
	case residency.SeverityInfo:
		return reports.SeverityInfo
	}
	return reports.Severity(s)
}

func (sa *storedAudit) complianceModel() (reports.ComplianceModel, error) {
	m := reports.ComplianceModel{
		Organisation: sa.cfg.Organisation, Period: sa.period(), AuditID: strconv.FormatInt(sa.audit.ID, 10),
		AuditKind: strings.ReplaceAll(sa.audit.Kind, "_", " "), Started: sa.audit.StartedAt,
		Vantages: sa.vantages(), ToolVersion: sa.audit.ToolVersion, RulesVersion: sa.audit.RulesVersion,
	}
	if sa.audit.FinishedAt != nil {
		m.Finished = *sa.audit.FinishedAt
	}
	for _, f := range sa.findings {
		verdict, err := reportVerdict(f)
		if err != nil {
			return m, err
		}
		rf := reports.Finding{Subject: f.Subject, RuleID: f.RuleID, LegalReference: f.LegalReference,
			Severity: reportSeverity(f.Severity), Verdict: verdict, Text: f.Summary}
		if f.Verdict != "" && f.Verdict != string(rf.Verdict) {
			rf.Text = strings.TrimSpace(f.Verdict + ": " + rf.Text)
		}
		if rf.Evidence, err = evidenceSummary(f); err != nil {
			return m, err
		}
		m.Findings = append(m.Findings, rf)
		if f.RuleID == ruleStoreSummary {
			row, err := residencyRow(f)
			if err != nil {
				return m, err
			}
			m.Residency = append(m.Residency, row)
			st, err := storeStatus(f)
			if err != nil {
				return m, err
			}
			if m.Headline == nil {
				m.Headline = &reports.Headline{}
			}
			switch st {
			case residency.StatusCompliant:
				m.Headline.Compliant++
			case residency.StatusNotCompliant:
				m.Headline.NotCompliant++
			default:
				m.Headline.NotShownCompliant++
			}
		}
	}
	reports.SortFindings(m.Findings)
	for _, ms := range sa.ms {
		st := StatsOf(ms)
		m.Latency = append(m.Latency, reports.LatencyRow{Vantage: ms.Vantage, Target: ms.Target, Address: ms.Address,
			Kind: ms.ProbeKind, Sent: st.Sent, Received: st.Received, Loss: st.LossPct / 100,
			Min: st.Min, Median: st.Median, P95: st.P95, Max: st.Max, Jitter: st.Jitter, Measured: ms.StartedAt})
	}
	m.Monitoring = sa.monitoring
	for _, c := range sa.checks {
		id := c.CheckID
		sub, err := checkSubject(c)
		if err != nil {
			return m, err
		}
		if sub != "" {
			id += " (" + sub + ")"
		}
		m.GuestChecks = append(m.GuestChecks, reports.GuestCheckRow{Host: c.Host, ID: id, Title: c.Title,
			Result: c.Result, Observed: c.Observed, Expected: c.Expected, Remediation: c.Remediation})
	}
	samples := 0
	for _, ms := range sa.ms {
		samples += len(ms.Samples)
	}
	m.Evidence = reports.EvidenceAppendix{
		Counts: []reports.KindCount{
			{Kind: "measurements", Rows: int64(len(sa.ms))},
			{Kind: "measurement samples", Rows: int64(samples)},
			{Kind: "geo observations", Rows: int64(len(sa.obs))},
			{Kind: "guest check results", Rows: int64(len(sa.checks))},
			{Kind: "findings", Rows: int64(len(sa.findings))},
		},
		ChainHead: hex.EncodeToString(sa.chain.Head), ChainLength: sa.chain.Rows,
		Databases: sa.databases(), Notes: sa.notes(), Log: sa.seal,
	}
	return m, nil
}

// evidenceSummary is the short form of a finding's evidence for the report's table: the rule's own
// evidence lines, or for a store the addresses and countries it was judged on.
func evidenceSummary(f storage.Finding) (string, error) {
	var v struct {
		Evidence []string      `json:"evidence"`
		Summary  *storeSummary `json:"summary"`
	}
	if err := json.Unmarshal(f.Evidence, &v); err != nil {
		return "", fmt.Errorf("finding %d (%s): evidence: %w", f.ID, f.Subject, err)
	}
	if len(v.Evidence) > 0 {
		return strings.Join(v.Evidence, "; "), nil
	}
	if v.Summary != nil {
		return fmt.Sprintf("addresses %s; countries %s", strings.Join(v.Summary.Addresses, ", "), strings.Join(v.Summary.Countries, ", ")), nil
	}
	return "", nil
}

func (sa *storedAudit) databases() []reports.DatabaseProvenance {
	seen := map[string]bool{}
	var out []reports.DatabaseProvenance
	for _, o := range sa.obs {
		if o.FileSHA256 == "" || seen[o.FileSHA256] {
			continue
		}
		seen[o.FileSHA256] = true
		p := reports.DatabaseProvenance{Type: o.DatabaseType, BuildDate: o.BuildEpoch, SHA256: o.FileSHA256}
		if o.Source == residency.ObservationGeoIP {
			gp := geoip.Provenance{Path: o.DatabasePath, DatabaseType: o.DatabaseType, BuildEpoch: o.BuildEpoch,
				Default: o.DatabasePath == geoip.DefaultPath}
			p.Basis = string(residency.Basis(gp))
			if age := residency.AgeDays(gp, o.ObservedAt); age >= 0 {
				p.AgeDays, p.AgeKnown = age, true
			}
		}
		out = append(out, p)
	}
	return out
}

func (sa *storedAudit) notes() []string {
	var out []string
	// Every step's outcome, so a skipped probe kind or a failed step is in the evidence for the reader.
	for _, st := range sa.steps {
		out = append(out, fmt.Sprintf("Step %s %s: %s", st.Step, st.Status, st.Message))
	}
	out = append(out, "Geolocation alone cannot prove compliance: remote access to data stored in Norway from a third country is itself a transfer (Datatilsynet).")
	return out
}

func (sa *storedAudit) salesModel() reports.SalesModel {
	m := reports.SalesModel{Organisation: sa.cfg.Organisation, AuditID: strconv.FormatInt(sa.audit.ID, 10)}
	for _, v := range sa.cfg.Vantages {
		if v.Name == sa.cfg.Vantage {
			m.Vantage = reports.Vantage{Name: v.Name, City: v.City, Lat: v.Latitude, Lon: v.Longitude, Network: v.Network}
		}
	}
	byTarget := map[string][]storage.Measurement{}
	for _, ms := range sa.ms {
		if ms.Vantage == sa.cfg.Vantage { // other vantages' views get rows of their own (remote.go)
			byTarget[ms.Target] = append(byTarget[ms.Target], ms)
		}
		if m.Window.From.IsZero() || ms.StartedAt.Before(m.Window.From) {
			m.Window.From = ms.StartedAt
		}
		if ms.FinishedAt.After(m.Window.Until) {
			m.Window.Until = ms.FinishedAt
		}
	}
	for _, t := range sa.cfg.Targets {
		st := reports.SalesTarget{Label: t.Label, Host: t.Host}
		fillSales(&st, byTarget[t.Name])
		if t.LabRTT > 0 {
			st.Label += fmt.Sprintf(" (lab, true RTT %v)", time.Duration(t.LabRTT))
		}
		m.Targets = append(m.Targets, st)
	}
	other, note := sa.otherVantagesSales()
	m.Targets = append(m.Targets, other...)
	var notes []string
	for _, st := range sa.steps {
		if st.Step == stepProbes && st.Message != "" {
			notes = append(notes, st.Message)
		}
	}
	if note != "" {
		notes = append(notes, note)
	}
	m.MethodNote = strings.Join(notes, " ")
	m.Monitoring = sa.monitoring
	return m
}

// monitoringRows are the chain's monitoring entries as the reports show them, vantage by vantage.
func monitoringRows(es []MonitoringEntry) ([]reports.MonitoringRow, error) {
	var out []reports.MonitoringRow
	for _, e := range es {
		for _, t := range e.Targets {
			first, err1 := time.Parse(time.RFC3339Nano, t.FirstStart)
			last, err2 := time.Parse(time.RFC3339Nano, t.LastEnd)
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("monitoring entry of vantage %s, target %s: %w", e.Vantage, t.Target, err)
			}
			out = append(out, reports.MonitoringRow{Vantage: e.Vantage, Target: t.Target, Address: t.Address, Kind: t.Kind,
				First: first, Last: last, Intervals: t.Intervals, Interval: time.Duration(t.IntervalNS), Gaps: t.Gaps,
				LongestGap: time.Duration(t.LongestGapNS), Sent: t.Sent, Received: t.Received, Min: time.Duration(t.MinNS),
				Median: time.Duration(t.MedianNS), P95: time.Duration(t.P95NS), Max: time.Duration(t.MaxNS)})
		}
	}
	return out, nil
}

// ReportKind names a report layout.
type ReportKind string

// Report kinds; the reports table accepts exactly these.
const (
	ReportCompliance ReportKind = "compliance"
	ReportSales      ReportKind = "sales"
)

// ReportOptions say which reports GenerateReports makes of which audit, and how it signs them.
type ReportOptions struct {
	// AuditID is the stored audit. Required.
	AuditID int64
	// Kinds default to both, compliance first.
	Kinds []ReportKind
	// Signer signs every PDF. Required.
	Signer *sign.Signer
	// OutDir receives the PDFs. Default: the current directory.
	OutDir string
	// Now is the clock for report dates and signing times. Default time.Now.
	Now func() time.Time
	// TSAURL, when set, is an RFC 3161 time-stamp authority.
	TSAURL string
	// Log, when set, is the evidence log: the audit is sealed first if it is not yet, each PDF embeds
	// the audit's head, seal, inclusion proof and checkpoint, each report becomes a leaf, and a new
	// checkpoint is published. Nil: reports made outside the log (they embed nothing).
	Log *EvidenceLog
}

func (o *ReportOptions) setDefaults() {
	if len(o.Kinds) == 0 {
		o.Kinds = []ReportKind{ReportCompliance, ReportSales}
	}
	if o.OutDir == "" {
		o.OutDir = "."
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func (o *ReportOptions) validate() error {
	if o.AuditID <= 0 {
		return fmt.Errorf("report options: audit ID %d: want a positive number", o.AuditID)
	}
	if o.Signer == nil {
		return errors.New("report options: Signer is required")
	}
	for _, k := range o.Kinds {
		if k != ReportCompliance && k != ReportSales {
			return fmt.Errorf("report options: kind %q: want %s or %s", k, ReportCompliance, ReportSales)
		}
	}
	return nil
}

// GenerateReports makes the requested PDFs of a stored audit, signs them, writes them into OutDir and
// records each report's sha256 and the signer's fingerprint.
func GenerateReports(ctx context.Context, s *storage.Store, opts ReportOptions) (out []storage.Report, err error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errors.New("report options: no store")
	}
	auditID, now := opts.AuditID, opts.Now
	sa, err := loadStored(ctx, s, auditID)
	if err != nil {
		return nil, err
	}
	st := sa.audit.Status
	if !st.Final() {
		return nil, fmt.Errorf("audit %d is still %s: a report is made of a closed audit only (if its process is gone, `varde audit recover` closes it)", auditID, st)
	}
	var incomplete string
	if !st.Complete() {
		incomplete = fmt.Sprintf("audit %d is %s: it did not run to its end, and this report shows only what it stored", auditID, st)
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	var evidence []byte
	if opts.Log != nil {
		seal, pub, err := opts.Log.Seal(ctx, auditID, now())
		if err != nil {
			return nil, fmt.Errorf("report of audit %d: seal: %w", auditID, err)
		}
		// A report is only made of evidence the signed log still vouches for: rows rewritten after the
		// seal, however consistently, are refused here rather than signed into a new PDF.
		if _, err := opts.Log.VerifyAudit(ctx, auditID); err != nil {
			return nil, fmt.Errorf("refusing to report audit %d: %w", auditID, err)
		}
		if evidence, err = opts.Log.reportEvidence(sa.audit, seal, pub); err != nil {
			return nil, err
		}
		sa.seal = &reports.LogSeal{LeafIndex: seal.Idx, TreeSize: pub.Checkpoint.Size, Origin: pub.Checkpoint.Origin,
			Root: base64.StdEncoding.EncodeToString(pub.Checkpoint.Root[:])}
	}
	// However the loop ends, the reports it recorded are put under a signed checkpoint.
	defer func() {
		if opts.Log != nil && len(out) > 0 {
			if _, perr := opts.Log.Publish(context.WithoutCancel(ctx)); perr != nil && err == nil {
				err = perr
			}
		}
	}()
	for _, kind := range opts.Kinds {
		var buf bytes.Buffer
		ropts := reports.Options{Now: now, Incomplete: incomplete, Evidence: evidence}
		switch kind {
		case ReportCompliance:
			var m reports.ComplianceModel
			if m, err = sa.complianceModel(); err == nil {
				err = reports.Compliance(&buf, m, ropts)
			}
		case ReportSales:
			err = reports.Sales(&buf, sa.salesModel(), ropts)
		}
		if err != nil {
			return out, fmt.Errorf("%s report of audit %d: %w", kind, auditID, err)
		}
		signed, err := sign.Sign(ctx, buf.Bytes(), opts.Signer, sign.Options{Now: now, TSAURL: opts.TSAURL,
			Reason: fmt.Sprintf("varde %s report of audit %d", kind, auditID)})
		if err != nil {
			return out, fmt.Errorf("sign %s report of audit %d: %w", kind, auditID, err)
		}
		// The file appears at its path only once its reports row is recorded: written to a temp file,
		// recorded, then renamed. A failure or a kill before the rename leaves no report without a row.
		path := filepath.Join(opts.OutDir, fmt.Sprintf("varde-audit-%d-%s.pdf", auditID, kind))
		tmp, err := varde.StageFile(path, signed, 0o644)
		if err != nil {
			return out, err
		}
		sum := sha256.Sum256(signed)
		r, err := s.AddReport(ctx, storage.Report{AuditID: auditID, Kind: string(kind), Path: path,
			SHA256: hex.EncodeToString(sum[:]), SignerFingerprint: opts.Signer.Fingerprint, CreatedAt: now()})
		if err != nil {
			os.Remove(tmp)
			return out, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return out, fmt.Errorf("report %d of audit %d is recorded, but its file could not be put at %s (it is at %s): %w",
				r.ID, auditID, path, tmp, err)
		}
		out = append(out, r)
		if opts.Log != nil {
			if _, err := opts.Log.store.LogReport(ctx, r, now()); err != nil {
				return out, fmt.Errorf("report %d of audit %d: %w", r.ID, auditID, err)
			}
		}
	}
	return out, nil
}
