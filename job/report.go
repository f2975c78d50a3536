package job

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/varde/varde/reports"
	"github.com/varde/varde/reports/sign"
	"github.com/varde/varde/storage"
)

// Report kinds.
const (
	ReportCompliance = "compliance"
	ReportSales      = "sales"
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
	return sa, nil
}

func (sa *storedAudit) vantages() []reports.Vantage {
	var out []reports.Vantage
	for _, v := range sa.cfg.Vantages {
		out = append(out, reports.Vantage{Name: v.Name, City: v.City, Lat: v.Latitude, Lon: v.Longitude, Network: v.Network})
	}
	return out
}

func (sa *storedAudit) period() reports.Period {
	var p reports.Period
	if sa.audit.PeriodStart != nil {
		p.From = *sa.audit.PeriodStart
	}
	if sa.audit.PeriodEnd != nil {
		p.Until = *sa.audit.PeriodEnd
	}
	return p
}

// reportVerdict maps a stored finding onto the report's verdict words, so violations lead.
func reportVerdict(f storage.Finding) string {
	var ev struct {
		Compliant *bool `json:"compliant"`
	}
	_ = json.Unmarshal(f.Evidence, &ev)
	switch {
	case f.Verdict == "transfer_mechanism_required" && ev.Compliant != nil && !*ev.Compliant:
		return "violation"
	case f.Verdict == "unknown":
		return "inconclusive"
	case f.Verdict == "in_eea" || f.Verdict == "adequate" || f.Verdict == "transfer_mechanism_required":
		return "compliant"
	// Evidence-quality findings (anycast, registered country, disagreeing witnesses) carry no verdict.
	case f.Severity == "high" || f.Severity == "critical" || f.Severity == "medium":
		return "warning"
	}
	return "inconclusive"
}

func (sa *storedAudit) complianceModel() reports.ComplianceModel {
	m := reports.ComplianceModel{
		Organisation: sa.cfg.Organisation, Period: sa.period(), AuditID: strconv.FormatInt(sa.audit.ID, 10),
		AuditKind: strings.ReplaceAll(sa.audit.Kind, "_", " "), Started: sa.audit.StartedAt,
		Vantages: sa.vantages(), ToolVersion: sa.audit.ToolVersion, RulesVersion: sa.audit.RulesVersion,
	}
	if sa.audit.FinishedAt != nil {
		m.Finished = *sa.audit.FinishedAt
	}
	for _, f := range sa.findings {
		rf := reports.Finding{Subject: f.Subject, RuleID: f.RuleID, LegalReference: f.LegalReference,
			Severity: f.Severity, Verdict: reportVerdict(f), Text: f.Summary}
		if f.Verdict != "" && f.Verdict != rf.Verdict {
			rf.Text = strings.TrimSpace(f.Verdict + ": " + rf.Text)
		}
		rf.Evidence = evidenceSummary(f.Evidence)
		m.Findings = append(m.Findings, rf)
		if f.RuleID == ruleStoreSummary {
			if row, ok := residencyRow(f); ok {
				m.Residency = append(m.Residency, row)
			}
		}
	}
	reports.SortFindings(m.Findings)
	for _, ms := range sa.ms {
		st := StatsOf(ms)
		m.Latency = append(m.Latency, reports.LatencyRow{Vantage: ms.Vantage, Target: ms.Target, Address: ms.Address,
			Kind: ms.ProbeKind, Sent: st.Sent, Received: st.Received, Loss: st.LossPct / 100,
			Min: st.Min, Median: st.Median, P95: st.P95, Max: st.Max, Jitter: st.Jitter})
	}
	for _, c := range sa.checks {
		id := c.CheckID
		if sub := checkSubject(c); sub != "" {
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
		Databases: sa.databases(), Notes: sa.notes(),
	}
	return m
}

// evidenceSummary is the short form of a finding's evidence for the report's table: the rule's own
// evidence lines, or for a store the addresses and countries it was judged on.
func evidenceSummary(raw json.RawMessage) string {
	var v struct {
		Evidence []string      `json:"evidence"`
		Summary  *storeSummary `json:"summary"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	if len(v.Evidence) > 0 {
		return strings.Join(v.Evidence, "; ")
	}
	if v.Summary != nil {
		return fmt.Sprintf("addresses %s; countries %s", strings.Join(v.Summary.Addresses, ", "), strings.Join(v.Summary.Countries, ", "))
	}
	return ""
}

func (sa *storedAudit) databases() []reports.DatabaseProvenance {
	seen := map[string]bool{}
	var out []reports.DatabaseProvenance
	for _, o := range sa.obs {
		if o.FileSHA256 == "" || seen[o.FileSHA256] {
			continue
		}
		seen[o.FileSHA256] = true
		out = append(out, reports.DatabaseProvenance{Type: o.DatabaseType, BuildDate: o.BuildEpoch, SHA256: o.FileSHA256})
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
		byTarget[ms.Target] = append(byTarget[ms.Target], ms)
		if m.Window.From.IsZero() || ms.StartedAt.Before(m.Window.From) {
			m.Window.From = ms.StartedAt
		}
		if ms.FinishedAt.After(m.Window.Until) {
			m.Window.Until = ms.FinishedAt
		}
	}
	for _, t := range sa.cfg.Targets {
		st := reports.SalesTarget{Label: t.Label, Host: t.Host}
		for _, ms := range byTarget[t.Name] {
			s := StatsOf(ms)
			if ms.Address != "" {
				st.Host = ms.Address
			}
			switch ms.ProbeKind {
			case "icmp":
				st.ICMPP50, st.ICMPP95, st.ICMPSamples = s.Median, s.P95, s.Received
			case "tcp":
				st.TCPP50, st.TCPP95, st.TCPSamples = s.Median, s.P95, s.Received
			}
		}
		if t.LabRTT > 0 {
			st.Label += fmt.Sprintf(" (lab, true RTT %v)", time.Duration(t.LabRTT))
		}
		m.Targets = append(m.Targets, st)
	}
	var notes []string
	for _, st := range sa.steps {
		if st.Step == stepProbes && st.Message != "" {
			notes = append(notes, st.Message)
		}
	}
	m.MethodNote = strings.Join(notes, " ")
	return m
}

// GenerateReports makes the requested PDFs of a stored audit, signs them, writes them into outDir and
// records each report's sha256 and the signer's fingerprint.
func GenerateReports(ctx context.Context, s *storage.Store, auditID int64, kinds []string, signer *sign.Signer,
	outDir string, now func() time.Time, tsaURL string) ([]storage.Report, error) {
	if now == nil {
		now = time.Now
	}
	sa, err := loadStored(ctx, s, auditID)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	var out []storage.Report
	for _, kind := range kinds {
		var buf bytes.Buffer
		opts := reports.Options{Now: now}
		switch kind {
		case ReportCompliance:
			err = reports.Compliance(&buf, sa.complianceModel(), opts)
		case ReportSales:
			err = reports.Sales(&buf, sa.salesModel(), opts)
		default:
			return out, fmt.Errorf("report kind %q: want compliance or sales", kind)
		}
		if err != nil {
			return out, fmt.Errorf("%s report of audit %d: %w", kind, auditID, err)
		}
		signed, err := sign.Sign(ctx, buf.Bytes(), signer, sign.Options{Now: now, TSAURL: tsaURL,
			Reason: fmt.Sprintf("varde %s report of audit %d", kind, auditID)})
		if err != nil {
			return out, fmt.Errorf("sign %s report of audit %d: %w", kind, auditID, err)
		}
		path := filepath.Join(outDir, fmt.Sprintf("varde-audit-%d-%s.pdf", auditID, kind))
		if err := writeAtomic(path, signed); err != nil {
			return out, err
		}
		sum := sha256.Sum256(signed)
		r, err := s.AddReport(ctx, storage.Report{AuditID: auditID, Kind: kind, Path: path,
			SHA256: hex.EncodeToString(sum[:]), SignerFingerprint: signer.Fingerprint, CreatedAt: now()})
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// writeAtomic writes through a temp file and a rename, so no partial PDF is ever left at path.
func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	if err := firstErr(werr, serr, cerr); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
