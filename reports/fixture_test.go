package reports

import (
	"fmt"
	"time"
)

var fixedNow = time.Date(2026, 7, 1, 8, 30, 0, 0, time.UTC)

func fixedClock() time.Time { return fixedNow }

const (
	hashA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	hashB = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
)

// sampleCompliance is a quarterly audit with enough rows that every table spans a page break, long
// unbroken cells, and Norwegian letters everywhere a user could type them.
func sampleCompliance() ComplianceModel {
	geo := DatabaseProvenance{Type: "GeoLite2-Country", BuildDate: time.Date(2026, 6, 23, 0, 0, 0, 0, time.UTC), SHA256: hashA,
		Basis: "location-based", AgeDays: 7, AgeKnown: true}
	asn := DatabaseProvenance{Type: "GeoLite2-ASN", BuildDate: time.Date(2026, 6, 20, 0, 0, 0, 0, time.UTC), SHA256: hashB}
	m := ComplianceModel{
		Organisation: "Fjordvarme Drift AS — avdeling Tromsø (Ærlig, Øvre Årdal)",
		Period:       Period{From: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)},
		AuditID:      "aud-2026q2-7f3c9e21",
		AuditKind:    "quarterly",
		Started:      time.Date(2026, 6, 30, 22, 0, 0, 0, time.UTC),
		Finished:     time.Date(2026, 6, 30, 22, 41, 17, 0, time.UTC),
		Vantages: []Vantage{
			{Name: "oslo-nix-1", City: "Oslo", Lat: 59.91, Lon: 10.75, Network: "NIX"},
			{Name: "bergen-bix-1", City: "Bergen", Lat: 60.39, Lon: 5.32, Network: "BIX"},
			{Name: "tromso-1", City: "Tromsø", Lat: 69.65, Lon: 18.96, Network: "Uninett"},
		},
		ToolVersion:  "0.1.0-dev",
		RulesVersion: "residency-rules/2026-05-06.1",
		Headline:     &Headline{Compliant: 2, NotCompliant: 1, NotShownCompliant: 4},
		Residency: []ResidencyRow{
			{Store: "db1.fjordvarme.no", Addresses: []string{"193.0.2.10", "2001:db8:4e4f:1::10"}, Country: "NO", Verdict: "pass", LegalBasis: "Inside the EEA (Personopplysningsloven § 1)", Physics: "consistent: 0.8 ms ≥ 0.3 ms minimum for Oslo", GeoIP: geo},
			{Store: "https://backup.example-cloud.com/buckets/fjordvarme-kundedata-sikkerhetskopi-2026/objects", Addresses: []string{"198.51.100.7", "198.51.100.8", "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe"}, Country: "US", Verdict: "violation", LegalBasis: "none declared; GDPR Art. 45 adequacy (EU-US DPF) requires certification", Physics: "consistent: 92.1 ms ≥ 38.7 ms", GeoIP: geo},
			{Store: "crm.saas.example.de", Addresses: []string{"203.0.113.99"}, Country: "DE", Verdict: "pass", LegalBasis: "Inside the EEA", Physics: "inconsistent: 0.4 ms < 7.9 ms minimum for Frankfurt — GeoIP answer doubtful", GeoIP: asn},
		},
		Evidence: EvidenceAppendix{
			Counts:      []KindCount{{"measurement", 96}, {"observation", 6}, {"check_result", 40}, {"finding", 60}},
			ChainHead:   hashB,
			ChainLength: 202,
			Databases:   []DatabaseProvenance{geo, asn},
			Notes:       []string{"ICMP skipped on bergen-bix-1: not root", "Målingene fra Tromsø ble gjort over mobilt reservesamband."},
		},
	}
	verdicts := []Verdict{VerdictPass, VerdictWarning, VerdictViolation, VerdictInconclusive}
	sevs := []Severity{SeverityInfo, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}
	for i := range 60 {
		m.Findings = append(m.Findings, Finding{
			Subject:        fmt.Sprintf("store-%02d.kunde.no", i),
			RuleID:         fmt.Sprintf("RES-%03d", i%7),
			LegalReference: "GDPR Art. 44–46",
			Severity:       sevs[i%5],
			Verdict:        verdicts[i%4],
			Text:           fmt.Sprintf("Finding %d: personopplysninger om kunder lagres på tjener i et land med status %s; behandlingsgrunnlag må dokumenteres før neste kvartal.", i, verdicts[i%4]),
			Evidence:       "observation sha256:" + hashA,
		})
	}
	m.Findings[5].Text = "Lang tekst: " + repeatWords("Dataene ble replikert til et sekundært område uten at avtalen med underleverandøren nevner overføringsgrunnlag etter artikkel 46.", 4)
	for i := range 96 {
		kind := "icmp"
		if i%2 == 1 {
			kind = "tcp"
		}
		r := LatencyRow{Vantage: m.Vantages[i%3].Name, Target: fmt.Sprintf("target-%02d.fjordvarme.no", i/2), Address: fmt.Sprintf("192.0.2.%d", i), Kind: kind, Sent: 20, Received: 20 - i%3,
			Min: time.Duration(800+i*37) * time.Microsecond, Median: time.Duration(1200+i*41) * time.Microsecond, P95: time.Duration(2500+i*300) * time.Microsecond,
			Max: time.Duration(4000+i*900) * time.Microsecond, Jitter: time.Duration(100+i*13) * time.Microsecond}
		r.Loss = float64(r.Sent-r.Received) / float64(r.Sent)
		r.Measured = time.Date(2026, 6, 29+i%2, 8, 0, 0, 0, time.UTC)
		if i == 7 {
			r.Received, r.Loss = 0, 1
		}
		m.Latency = append(m.Latency, r)
	}
	m.Latency[3].Address = "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"
	m.Monitoring = sampleMonitoring()
	results := []string{"pass", "fail", "warn", "skip"}
	for i := range 40 {
		m.GuestChecks = append(m.GuestChecks, GuestCheckRow{
			Host: fmt.Sprintf("vm-%02d.tromsø.fjordvarme.no", i%5), ID: fmt.Sprintf("sysctl.net.core.rmem_max.%d", i), Title: "Socket receive buffer størrelse",
			Result: results[i%4], Observed: "212992", Expected: "≥ 16777216",
			Remediation: "echo 'net.core.rmem_max = 16777216' > /etc/sysctl.d/90-varde.conf && sysctl --system",
		})
	}
	return m
}

func repeatWords(s string, n int) string {
	out := s
	for range n - 1 {
		out += " " + s
	}
	return out
}

func sampleSales() SalesModel {
	return SalesModel{
		Organisation: "Fjordvarme Drift AS",
		AuditID:      "aud-sales-2026-06-ab12",
		Vantage:      Vantage{Name: "oslo-nix-1", City: "Oslo", Lat: 59.91, Lon: 10.75, Network: "NIX"},
		Window:       Period{From: time.Date(2026, 6, 29, 8, 0, 0, 0, time.UTC), Until: time.Date(2026, 6, 29, 9, 0, 0, 0, time.UTC)},
		MethodNote:   "Målt fra kundens eget nett i Oslo; Frankfurt og US East er offentlige skyregioner.",
		Targets: []SalesTarget{
			{Label: "Our DC via NIX", Host: "dc1.fjordvarme.no", ICMPP50: 620 * time.Microsecond, ICMPP95: 1100 * time.Microsecond, ICMPSamples: 600, TCPP50: 780 * time.Microsecond, TCPP95: 1400 * time.Microsecond, TCPSamples: 600},
			{Label: "Frankfurt", Host: "ec2.eu-central-1.amazonaws.com", ICMPP50: 24300 * time.Microsecond, ICMPP95: 27900 * time.Microsecond, ICMPSamples: 600, TCPP50: 25100 * time.Microsecond, TCPP95: 31200 * time.Microsecond, TCPSamples: 600},
			{Label: "US East", Host: "ec2.us-east-1.amazonaws.com", ICMPP50: 96400 * time.Microsecond, ICMPP95: 104800 * time.Microsecond, ICMPSamples: 600, TCPP50: 97300 * time.Microsecond, TCPP95: 112600 * time.Microsecond, TCPSamples: 600},
			{Label: "Stockholm (ICMP filtrert)", Host: "se-sto.example.net", TCPP50: 9100 * time.Microsecond, TCPP95: 11800 * time.Microsecond, TCPSamples: 600},
		},
		Monitoring: sampleMonitoring(),
	}
}

// sampleMonitoring is a quarter of 5-minute summaries from two agent vantages: one with gaps, one that
// started late, one target that never answered.
func sampleMonitoring() []MonitoringRow {
	q := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	return []MonitoringRow{
		{Vantage: "bergen-bix", Target: "dc1.fjordvarme.no", Address: "192.0.2.10", Kind: "icmp", First: q, Last: end,
			Intervals: 26196, Interval: 5 * time.Minute, Gaps: 12, LongestGap: 35 * time.Minute, Sent: 130980, Received: 130911,
			Min: 2870 * time.Microsecond, Median: 3140 * time.Microsecond, P95: 4020 * time.Microsecond, Max: 41200 * time.Microsecond},
		{Vantage: "bergen-bix", Target: "dc1.fjordvarme.no", Address: "192.0.2.10", Kind: "tcp", First: q, Last: end,
			Intervals: 26196, Interval: 5 * time.Minute, Gaps: 12, LongestGap: 35 * time.Minute, Sent: 130980, Received: 130980,
			Min: 2950 * time.Microsecond, Median: 3260 * time.Microsecond, P95: 4400 * time.Microsecond, Max: 38100 * time.Microsecond},
		{Vantage: "sto-netnod", Target: "dc1.fjordvarme.no", Address: "192.0.2.10", Kind: "icmp", First: time.Date(2026, 5, 14, 10, 5, 0, 0, time.UTC), Last: end,
			Intervals: 13667, Interval: 5 * time.Minute, Sent: 68335, Received: 68330,
			Min: 6120 * time.Microsecond, Median: 6480 * time.Microsecond, P95: 7950 * time.Microsecond, Max: 22600 * time.Microsecond},
		{Vantage: "sto-netnod", Target: "ec2.us-east-1.amazonaws.com", Address: "198.51.100.7", Kind: "icmp", First: time.Date(2026, 5, 14, 10, 5, 0, 0, time.UTC), Last: end,
			Intervals: 13667, Interval: 5 * time.Minute, Sent: 68335},
	}
}

// bigCompliance is the benchmark model: n findings and l latency rows.
func bigCompliance(n, l int) ComplianceModel {
	m := sampleCompliance()
	base := m.Findings
	m.Findings = make([]Finding, 0, n)
	for i := range n {
		f := base[i%len(base)]
		f.Subject = fmt.Sprintf("store-%05d.kunde.no", i)
		m.Findings = append(m.Findings, f)
	}
	lb := m.Latency
	m.Latency = make([]LatencyRow, 0, l)
	for i := range l {
		r := lb[i%len(lb)]
		r.Target = fmt.Sprintf("target-%04d.fjordvarme.no", i)
		m.Latency = append(m.Latency, r)
	}
	return m
}
