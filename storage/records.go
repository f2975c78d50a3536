package storage

import (
	"encoding/json"
	"time"
)

// Chain is the link every evidence row carries.
type Chain struct {
	ID       int64  `json:"id"`
	AuditID  int64  `json:"audit_id"`
	Seq      int64  `json:"seq"`
	PrevHash []byte `json:"prev_hash"`
	Hash     []byte `json:"hash"`
}

// Measurement is one probe result from one vantage to one target, with every sample.
type Measurement struct {
	Chain
	Vantage     string          `json:"vantage"`
	Target      string          `json:"target"`
	Address     string          `json:"address"`
	Port        int             `json:"port"`
	ProbeKind   string          `json:"probe_kind"` // icmp or tcp
	Sent        int             `json:"sent"`
	Received    int             `json:"received"`
	Duplicates  int             `json:"duplicates"`
	Failure     string          `json:"failure"` // empty when the probe worked
	StartedAt   time.Time       `json:"started_at"`
	FinishedAt  time.Time       `json:"finished_at"`
	Tool        string          `json:"tool"`
	ToolVersion string          `json:"tool_version"`
	Stats       json.RawMessage `json:"stats"`
	Samples     []Sample        `json:"samples"`
	// SamplesSHA256 is computed by AppendMeasurements.
	SamplesSHA256 []byte `json:"samples_sha256"`
}

// Sample is one echo or one handshake.
type Sample struct {
	Idx         int           `json:"idx"`
	SentAt      time.Time     `json:"sent_at"`
	Received    bool          `json:"received"`
	RTT         time.Duration `json:"rtt_ns"`
	KernelRTT   time.Duration `json:"kernel_rtt_ns,omitempty"` // TCP: tcpi_rtt right after connect; 0 = none
	Duplicate   bool          `json:"duplicate,omitempty"`
	Retransmits int           `json:"retransmits,omitempty"`
}

// Observation is a fact about an address, with the provenance of the source that gave it.
type Observation struct {
	Chain
	Subject            string          `json:"subject"` // the data store or target the address belongs to
	Host               string          `json:"host"`
	Address            string          `json:"address"`
	Source             string          `json:"source"` // geoip, cloud, dns
	DatabaseType       string          `json:"database_type"`
	DatabasePath       string          `json:"database_path"`
	BuildEpoch         time.Time       `json:"build_epoch"` // zero when the source has none
	FileSHA256         string          `json:"file_sha256"`
	LocatedCountry     string          `json:"located_country"`
	RegisteredCountry  string          `json:"registered_country"`
	RepresentedCountry string          `json:"represented_country"`
	Anycast            bool            `json:"anycast"`
	Details            json.RawMessage `json:"details"`
	ObservedAt         time.Time       `json:"observed_at"`
}

// CheckResult is the outcome of one guest tuning check on one machine.
type CheckResult struct {
	Chain
	Host        string          `json:"host"`
	CheckID     string          `json:"check_id"`
	Title       string          `json:"title"`
	Category    string          `json:"category"`
	Result      string          `json:"result"` // pass, warn, fail, notapplicable, error
	Observed    string          `json:"observed"`
	Expected    string          `json:"expected"`
	Remediation string          `json:"remediation"`
	Details     json.RawMessage `json:"details"`
	CheckedAt   time.Time       `json:"checked_at"`
}

// Finding is a judgement made by a rule.
type Finding struct {
	Chain
	Subject        string `json:"subject"`
	RuleID         string `json:"rule_id"`
	LegalReference string `json:"legal_reference"`
	Severity       string `json:"severity"` // the rule's severity word
	Verdict        string `json:"verdict"`  // the rule's verdict word; empty for evidence-quality findings
	// Compliant is the rule's judgement of whether the subject complies; nil when the rule makes none,
	// and on rows stored before schema version 2 (they hold it in their evidence JSON).
	Compliant *bool           `json:"compliant,omitempty"`
	Summary   string          `json:"summary"`
	Evidence  json.RawMessage `json:"evidence"`
	CreatedAt time.Time       `json:"created_at"`
}

func (m *Measurement) canonical(form int) ([]byte, error) {
	stats, err := canonJSON(form, m.Stats)
	if err != nil {
		return nil, err
	}
	return encode(form, map[string]any{
		"table": "measurements", "audit_id": m.AuditID, "seq": m.Seq,
		"vantage": m.Vantage, "target": m.Target, "address": m.Address, "port": m.Port,
		"probe_kind": m.ProbeKind, "sent": m.Sent, "received": m.Received, "duplicates": m.Duplicates,
		"failure": m.Failure, "started_at": canonTime(m.StartedAt), "finished_at": canonTime(m.FinishedAt),
		"tool": m.Tool, "tool_version": m.ToolVersion, "stats": stats,
		"samples_sha256": hexOf(m.SamplesSHA256),
	})
}

func (o *Observation) canonical(form int) ([]byte, error) {
	details, err := canonJSON(form, o.Details)
	if err != nil {
		return nil, err
	}
	return encode(form, map[string]any{
		"table": "geo_observations", "audit_id": o.AuditID, "seq": o.Seq,
		"subject": o.Subject, "host": o.Host, "address": o.Address, "source": o.Source,
		"database_type": o.DatabaseType, "database_path": o.DatabasePath, "build_epoch": canonTime(o.BuildEpoch),
		"file_sha256": o.FileSHA256, "located_country": o.LocatedCountry,
		"registered_country": o.RegisteredCountry, "represented_country": o.RepresentedCountry,
		"anycast": o.Anycast, "details": details, "observed_at": canonTime(o.ObservedAt),
	})
}

func (c *CheckResult) canonical(form int) ([]byte, error) {
	details, err := canonJSON(form, c.Details)
	if err != nil {
		return nil, err
	}
	return encode(form, map[string]any{
		"table": "check_results", "audit_id": c.AuditID, "seq": c.Seq,
		"host": c.Host, "check_id": c.CheckID, "title": c.Title, "category": c.Category,
		"result": c.Result, "observed": c.Observed, "expected": c.Expected, "remediation": c.Remediation,
		"details": details, "checked_at": canonTime(c.CheckedAt),
	})
}

func (f *Finding) canonical(form int) ([]byte, error) {
	evidence, err := canonJSON(form, f.Evidence)
	if err != nil {
		return nil, err
	}
	fields := map[string]any{
		"table": "findings", "audit_id": f.AuditID, "seq": f.Seq,
		"subject": f.Subject, "rule_id": f.RuleID, "legal_reference": f.LegalReference,
		"severity": f.Severity, "verdict": f.Verdict, "summary": f.Summary, "evidence": evidence,
		"created_at": canonTime(f.CreatedAt),
	}
	// Rows from before schema version 2 have no compliant and were hashed without the key; leaving it
	// out when NULL keeps their hashes, and a value set or cleared later changes the hash either way.
	if f.Compliant != nil {
		fields["compliant"] = *f.Compliant
	}
	return encode(form, fields)
}
