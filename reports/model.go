package reports

import "time"

// Vantage is where measurements were taken from.
type Vantage struct {
	Name    string  // e.g. "oslo-nix-1"
	City    string  // e.g. "Oslo"
	Lat     float64 // degrees, north positive
	Lon     float64 // degrees, east positive
	Network string  // e.g. "NIX"
}

// Period is the span of time an audit covers. Until is inclusive as shown to the reader.
type Period struct {
	From, Until time.Time
}

// ComplianceModel is everything the quarterly compliance report shows, as stored for one audit.
type ComplianceModel struct {
	Organisation string
	Period       Period
	AuditID      string
	AuditKind    string // quarterly, ad hoc, ...
	Started      time.Time
	Finished     time.Time
	Vantages     []Vantage
	ToolVersion  string
	RulesVersion string

	Findings []Finding
	// Headline counts the data stores by status; nil when the audit judged none.
	Headline  *Headline
	Residency []ResidencyRow
	Latency   []LatencyRow
	// Monitoring is the period's latency from the agents' monitoring summaries, as the audit's chain holds
	// it; empty when none were in the period.
	Monitoring  []MonitoringRow
	GuestChecks []GuestCheckRow
	Evidence    EvidenceAppendix
}

// Finding is one judgement made by a rule. Verdict and Severity are the rule's own words; the report
// orders by them (see VerdictRank, SeverityRank) so that violations lead.
type Finding struct {
	Subject        string // what was judged: a data store, an address, a host, a check
	RuleID         string
	LegalReference string // legal or technical reference, e.g. "GDPR Art. 44"
	Severity       Severity
	Verdict        Verdict
	Text           string
	Evidence       string // summary of the evidence the finding rests on
}

// Headline is how many data stores are compliant, not compliant, and not shown compliant. A store whose
// location is unknown, anycast or in need of review is not shown compliant: it is never hidden among
// softer words.
type Headline struct {
	Compliant, NotCompliant, NotShownCompliant int
}

// DatabaseProvenance identifies a GeoIP (or other) database an observation came from.
type DatabaseProvenance struct {
	Type      string // e.g. "GeoLite2-Country"
	BuildDate time.Time
	SHA256    string // hex digest of the database file
	// Basis is "location-based" or "registration-based"; empty when not recorded.
	Basis string
	// AgeDays is the age at the lookups, when AgeKnown.
	AgeDays  int
	AgeKnown bool
}

// ResidencyRow is the judgement of one data store's location.
type ResidencyRow struct {
	Store      string   // host or URL
	Addresses  []string // every address the host resolved to
	Country    string   // ISO code or name as judged
	Verdict    string
	LegalBasis string // article the transfer rests on, e.g. "GDPR Art. 45 (adequacy)"
	Physics    string // speed-of-light check on the GeoIP answer, e.g. "consistent (3.1 ms ≥ 0.9 ms)"
	GeoIP      DatabaseProvenance
}

// LatencyRow is the summary of one measurement from a vantage to a target. Durations are zero when
// no reply was received.
type LatencyRow struct {
	Vantage  string
	Target   string
	Address  string
	Kind     string // icmp or tcp
	Sent     int
	Received int
	Loss     float64 // fraction 0..1
	Min      time.Duration
	Median   time.Duration
	P95      time.Duration
	Max      time.Duration
	Jitter   time.Duration
	// Measured is when the measurement was taken (the report shows its day).
	Measured time.Time
}

// GuestCheckRow is one guest tuning check result on one machine.
type GuestCheckRow struct {
	Host        string
	ID          string
	Title       string
	Result      string // pass, fail, warn, skip, error
	Observed    string
	Expected    string
	Remediation string
}

// KindCount is how many evidence rows of one kind the audit holds.
type KindCount struct {
	Kind string // measurement, observation, check_result, finding, ...
	Rows int64
}

// EvidenceAppendix is what a reader needs to check the report against the stored evidence.
type EvidenceAppendix struct {
	Counts      []KindCount
	ChainHead   string // hex hash of the last evidence row
	ChainLength int64
	Databases   []DatabaseProvenance
	Notes       []string // e.g. "ICMP skipped: not root"
	// Log, when set, is where the audit is sealed in the evidence log (the PDF embeds the proof).
	Log *LogSeal
}

// LogSeal is an audit's seal in the evidence log and the signed checkpoint the report's proof is for.
type LogSeal struct {
	LeafIndex int64
	TreeSize  int64
	Root      string // base64, as the checkpoint spells it
	Origin    string // the log's name
}

// SalesModel is what the sales latency comparison shows: from one vantage to each compared target.
type SalesModel struct {
	Organisation string // who the comparison is made for or by; optional
	AuditID      string
	Vantage      Vantage
	Targets      []SalesTarget
	Window       Period // when the samples were taken
	MethodNote   string // extra words on the method; the report adds what, when, how many, from where
	// Monitoring is each vantage's view across the audited period, from its agents' monitoring summaries.
	Monitoring []MonitoringRow
}

// SalesTarget is one compared destination. A zero sample count means that probe kind was not
// measured (for example ICMP without privileges) and is shown as "n/a".
type SalesTarget struct {
	Label       string // e.g. "Our DC via NIX", "Frankfurt", "US East"
	Host        string // host or address probed
	ICMPP50     time.Duration
	ICMPP95     time.Duration
	ICMPSamples int
	TCPP50      time.Duration
	TCPP95      time.Duration
	TCPSamples  int
}
