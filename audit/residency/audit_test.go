package residency

import (
	"bytes"
	"context"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/varde/varde/geoip"
	"github.com/varde/varde/geoip/cloud"
	"github.com/varde/varde/resolver"
)

var update = flag.Bool("update", false, "rewrite golden files")

// maxmindTestDB is MaxMind's own test database (Apache-2.0/MIT, see geoip/testdata/LICENSE-*).
const maxmindTestDir = "../../geoip/testdata"

func day0(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := parseDay(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func openDB(t *testing.T, path string) *geoip.DB {
	t.Helper()
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// literalResolver is the real resolver; IP literals pass through it without DNS.
func literalResolver(t *testing.T) *resolver.Resolver {
	t.Helper()
	r, err := resolver.New(resolver.Config{Servers: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func inventoryOf(t *testing.T, yaml string) *Inventory {
	t.Helper()
	inv, err := ParseInventory("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func store(name, host string, extra ...string) string {
	s := "  - name: " + name + "\n    host: \"" + host + "\"\n    kind: postgres\n    purpose: test\n    data_category: ordinary\n    role: controller\n"
	for _, e := range extra {
		s += "    " + e + "\n"
	}
	return s
}

func byName(t *testing.T, r *Result, name string) StoreResult {
	t.Helper()
	for _, s := range r.Stores {
		if s.Store.Name == name {
			return s
		}
	}
	t.Fatalf("no store %q", name)
	return StoreResult{}
}

func hasRule(fs []Finding, rule string) *Finding {
	for i := range fs {
		if fs[i].RuleID == rule {
			return &fs[i]
		}
	}
	return nil
}

// TestMaxMindTestDatabases: anycast, registered ≠ located, a represented country, on MaxMind's test DBs.
func TestMaxMindTestDatabases(t *testing.T) {
	t.Parallel()
	city := openDB(t, filepath.Join(maxmindTestDir, "GeoIP2-City-Test.mmdb"))
	inv := inventoryOf(t, "stores:\n"+
		store("london", "81.2.69.142")+
		store("anycast", "214.1.1.1")+
		store("base", "202.196.224.1")+
		store("linkoping", "89.160.20.112")+
		store("nowhere", "1.1.1.1"))
	res, err := Audit(context.Background(), Config{Date: day0(t, "2025-09-30"), Resolver: literalResolver(t),
		Locators: []Locator{city}}, inv)
	if err != nil {
		t.Fatal(err)
	}
	london := byName(t, res, "london")
	if london.Verdict != VerdictAdequate || !london.Compliant || !slices.Equal(london.Countries, []string{"GB"}) {
		t.Errorf("london: %s compliant=%v %v", london.Verdict, london.Compliant, london.Countries)
	}
	if f := hasRule(london.Findings, RuleRegisteredCountry); f == nil || f.Country != "US" || f.Severity != SeverityMedium {
		t.Errorf("london: registered-country finding %+v, want US, medium", f)
	}
	any := byName(t, res, "anycast")
	if any.Verdict != VerdictUnknown || any.Compliant || hasRule(any.Findings, RuleAnycast) == nil ||
		hasRule(any.Findings, RuleMissingCountry) == nil {
		t.Errorf("anycast: %s compliant=%v, findings %v", any.Verdict, any.Compliant, rules(any.Findings))
	}
	base := byName(t, res, "base")
	if base.Verdict != VerdictMechanismRequired || base.Compliant || !slices.Equal(base.Countries, []string{"PH", "US"}) {
		t.Errorf("base: %s compliant=%v %v", base.Verdict, base.Compliant, base.Countries)
	}
	if f := hasRule(base.Findings, RuleRepresentedCountry); f == nil || f.Country != "US" || !strings.Contains(f.Message, "military") {
		t.Errorf("base: represented finding %+v", f)
	}
	lk := byName(t, res, "linkoping")
	if lk.Verdict != VerdictInEEA || !lk.Compliant || hasRule(lk.Findings, RuleRegisteredCountry) == nil {
		t.Errorf("linkoping: %s compliant=%v findings %v", lk.Verdict, lk.Compliant, rules(lk.Findings))
	}
	// 1.1.1.1 has no record in the test DB, and it is a known anycast address.
	nw := byName(t, res, "nowhere")
	if nw.Verdict != VerdictUnknown || hasRule(nw.Findings, RuleMissingCountry) == nil || hasRule(nw.Findings, RuleAnycast) == nil {
		t.Errorf("nowhere: %s findings %v", nw.Verdict, rules(nw.Findings))
	}
	// Every finding of every store cites Personopplysningsloven § 1.
	for _, f := range res.Findings() {
		if !slices.Contains(f.References, NorwegianAct) {
			t.Errorf("%s %s: references %v", f.Subject, f.RuleID, f.References)
		}
	}
	// Observations carry the database's provenance.
	var n int
	for _, o := range res.Observations() {
		if o.Kind == "geoip" {
			n++
			if o.GeoIP.Source.SHA256 == "" || o.GeoIP.Source.DatabaseType != "GeoIP2-City" || o.GeoIP.Source.BuildEpoch.IsZero() {
				t.Errorf("observation without provenance: %+v", o.GeoIP.Source)
			}
		}
	}
	if n != 5 {
		t.Errorf("%d geoip observations, want 5", n)
	}
}

func rules(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.RuleID+":"+string(f.Verdict))
	}
	return out
}

// writeDB builds a GeoIP2-Country database with mmdbwriter.
func writeDB(t *testing.T, name string, recs map[string]mmdbtype.Map) string {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-Country", RecordSize: 24,
		BuildEpoch: day0(t, "2025-09-01").Unix(), Description: map[string]string{"en": "varde test " + name}})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range recs {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Insert(n, rec); err != nil {
			t.Fatalf("%s: %v", cidr, err)
		}
	}
	p := filepath.Join(t.TempDir(), name+".mmdb")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func countryRec(code string) mmdbtype.Map {
	return mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(code)},
		"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String(code)}}
}

// TestGeneratedDatabasesAndWitnesses: two generated databases that disagree, a cloud range that disagrees,
// physics that contradicts GeoIP, an anycast flag, across the dates of the rules table.
func TestGeneratedDatabasesAndWitnesses(t *testing.T) {
	t.Parallel()
	anycastRec := countryRec("DE")
	anycastRec["traits"] = mmdbtype.Map{"is_anycast": mmdbtype.Bool(true)}
	a := openDB(t, writeDB(t, "a", map[string]mmdbtype.Map{
		"51.120.0.0/16": countryRec("NO"), "13.48.0.0/14": countryRec("SE"), "52.216.0.0/15": countryRec("US"),
		"46.4.0.0/16": anycastRec, "200.147.0.0/16": countryRec("BR"), "35.228.0.0/16": countryRec("FI"),
	}))
	b := openDB(t, writeDB(t, "b", map[string]mmdbtype.Map{
		"51.120.0.0/16": countryRec("NO"), "13.48.0.0/14": countryRec("DE"),
	}))
	awsPath := filepath.Join(t.TempDir(), "ip-ranges.json")
	if err := os.WriteFile(awsPath, []byte(`{"syncToken":"1735689600","createDate":"2025-01-01-00-00-00",
"prefixes":[{"ip_prefix":"35.228.0.0/16","region":"us-east-1","service":"EC2","network_border_group":"us-east-1"}],
"ipv6_prefixes":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ranges, err := cloud.Load(awsPath)
	if err != nil {
		t.Fatal(err)
	}
	inv := inventoryOf(t, "stores:\n"+
		store("oslo", "51.120.0.1")+
		store("split-brain", "13.48.0.1")+
		store("us-but-near", "52.216.0.1")+
		store("us-far", "52.217.0.1")+
		store("anycast", "46.4.1.1")+
		store("brazil", "200.147.1.1")+
		store("cloud-says-us", "35.228.0.1"))
	rtt := RTTTable{
		netip.MustParseAddr("51.120.0.1"): {rtt(oslo, 1.5)},
		netip.MustParseAddr("52.216.0.1"): {rtt(oslo, 3)},
		netip.MustParseAddr("52.217.0.1"): {rtt(oslo, 95)},
	}
	run := func(date string) *Result {
		res, err := Audit(context.Background(), Config{Date: day0(t, date), Resolver: literalResolver(t),
			Locators: []Locator{a, b}, Cloud: ranges, RTT: rtt}, inv)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := run("2025-09-30")
	oslo := byName(t, res, "oslo")
	if oslo.Verdict != VerdictInEEA || oslo.Addresses[0].Physics[0].Class != PhysicsEndpointInQualifyingLand {
		t.Errorf("oslo: %s physics %+v", oslo.Verdict, oslo.Addresses[0].Physics)
	}
	sb := byName(t, res, "split-brain")
	if f := hasRule(sb.Findings, RuleGeoIPDisagreement); f == nil || sb.Verdict != VerdictInEEA ||
		!slices.Equal(sb.Countries, []string{"DE", "SE"}) {
		t.Errorf("split-brain: %s %v %v", sb.Verdict, sb.Countries, rules(sb.Findings))
	}
	near := byName(t, res, "us-but-near")
	// A US answer 3 ms from Oslo: the endpoint is near, the data need not be. Not shown compliant, with
	// both answers; the disc's countries never replace the GeoIP one.
	if f := hasRule(near.Findings, RuleTransfer); near.Addresses[0].Physics[0].Class != PhysicsEndpointNotInClaim ||
		near.Verdict != VerdictNeedsReview || near.Status != StatusNotShownCompliant || near.Compliant ||
		!slices.Equal(near.Countries, []string{"US"}) || f == nil || f.Verdict != VerdictNeedsReview ||
		!strings.Contains(f.Message, "GeoIP says US") || !strings.Contains(f.Message, "endpoint cannot be in country US") ||
		!strings.Contains(f.Message, "load balancer or CDN edge") {
		t.Errorf("us-but-near: %s %v physics %+v", near.Verdict, near.Countries, near.Addresses[0].Physics)
	}
	far := byName(t, res, "us-far")
	if far.Addresses[0].Physics[0].Class != PhysicsUnverifiable || far.Verdict != VerdictMechanismRequired || far.Compliant {
		t.Errorf("us-far: %s compliant=%v physics %+v", far.Verdict, far.Compliant, far.Addresses[0].Physics)
	}
	any := byName(t, res, "anycast")
	if any.Verdict != VerdictUnknown || hasRule(any.Findings, RuleAnycast) == nil {
		t.Errorf("anycast: %s %v", any.Verdict, rules(any.Findings))
	}
	cs := byName(t, res, "cloud-says-us")
	if f := hasRule(cs.Findings, RuleCloudDisagreement); f == nil || f.Country != "US" || !strings.Contains(strings.Join(f.Evidence, " "), "1735689600") {
		t.Errorf("cloud-says-us: %v", rules(cs.Findings))
	}
	if cs.Verdict != VerdictMechanismRequired || !slices.Equal(cs.Countries, []string{"FI", "US"}) {
		t.Errorf("cloud-says-us: %s %v", cs.Verdict, cs.Countries)
	}
	// Brazil before and after its adequacy decision; the US before the DPF.
	if v := byName(t, res, "brazil").Verdict; v != VerdictMechanismRequired {
		t.Errorf("brazil 2025-09-30: %s", v)
	}
	later := run("2026-02-01")
	br := byName(t, later, "brazil")
	if f := hasRule(br.Findings, RuleTransfer); br.Verdict != VerdictAdequate || !br.Compliant || f == nil ||
		f.Severity != SeverityLow || !strings.Contains(f.Message, "EEA incorporation pending") {
		t.Errorf("brazil 2026-02-01: %s %v %+v", br.Verdict, br.Compliant, f)
	}
	// Database b has no record for the Brazilian address: a finding, but database a still places it.
	if f := hasRule(br.Findings, RuleMissingCountry); f == nil || f.Verdict != "" || f.Severity != SeverityMedium {
		t.Errorf("brazil: missing-country finding %+v", f)
	}
	earlier := run("2023-07-09")
	if v := byName(t, earlier, "us-far").Verdict; v != VerdictMechanismRequired {
		t.Errorf("us-far 2023-07-09: %s", v)
	}
	if f := hasRule(byName(t, run("2023-07-10"), "us-far").Findings, RuleTransfer); f == nil || !strings.Contains(f.Decision, "2023/1795") {
		t.Errorf("us-far 2023-07-10: the DPF decision is not considered: %+v", f)
	}
}

// dnsServer answers A queries for a fixed zone and NXDOMAIN otherwise, on loopback UDP.
func dnsServer(t *testing.T, zone map[string]string, cnames map[string]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	t.Cleanup(wg.Wait)               // runs second: cleanups run last-in first-out
	t.Cleanup(func() { pc.Close() }) // runs first, ending the server loop
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var m dnsmessage.Message
			if m.Unpack(buf[:n]) != nil || len(m.Questions) == 0 {
				continue
			}
			q := m.Questions[0]
			m.Response, m.Authoritative, m.RecursionAvailable = true, true, true
			name := strings.TrimSuffix(q.Name.String(), ".")
			target := name
			if c, ok := cnames[name]; ok {
				m.Answers = append(m.Answers, dnsmessage.Resource{
					Header: dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeCNAME, Class: dnsmessage.ClassINET, TTL: 60},
					Body:   &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName(c + ".")}})
				target = c
			}
			ip, ok := zone[target]
			switch {
			case !ok:
				m.RCode = dnsmessage.RCodeNameError
				m.Answers = nil
			case q.Type == dnsmessage.TypeA:
				m.Answers = append(m.Answers, dnsmessage.Resource{
					Header: dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(target + "."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60},
					Body:   &dnsmessage.AResource{A: netip.MustParseAddr(ip).As4()}})
			}
			out, err := m.Pack()
			if err == nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// TestUnresolvableHost: a host that does not resolve is an "unknown" finding with the resolver's error.
func TestUnresolvableHost(t *testing.T) {
	t.Parallel()
	srv := dnsServer(t, map[string]string{"db.example.test": "52.16.0.1"}, map[string]string{"alias.example.test": "db.example.test"})
	nr := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", srv)
	}}
	res0, err := resolver.New(resolver.Config{Resolver: nr, Servers: []string{srv}, Name: "test", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	db, err := geoip.OpenDefault()
	if err != nil {
		t.Fatal(err)
	}
	inv := inventoryOf(t, "stores:\n"+store("gone", "missing.example.test")+store("dublin", "alias.example.test:5432"))
	res, err := Audit(context.Background(), Config{Date: day0(t, "2025-09-30"), Resolver: res0, Locators: []Locator{db}}, inv)
	if err != nil {
		t.Fatal(err)
	}
	gone := byName(t, res, "gone")
	f := hasRule(gone.Findings, RuleUnresolvable)
	if gone.Verdict != VerdictUnknown || gone.Compliant || f == nil || !strings.Contains(f.Message, "missing.example.test") ||
		!strings.Contains(strings.Join(f.Evidence, " "), "test via "+srv) {
		t.Errorf("gone: %s %v %+v", gone.Verdict, gone.Compliant, f)
	}
	dub := byName(t, res, "dublin")
	if dub.Verdict != VerdictInEEA || !slices.Equal(dub.Countries, []string{"IE"}) {
		t.Errorf("dublin: %s %v %v", dub.Verdict, dub.Countries, rules(dub.Findings))
	}
	if f := hasRule(dub.Findings, RuleTransfer); f == nil || !strings.Contains(strings.Join(f.Evidence, " "), "via CNAME db.example.test") {
		t.Errorf("dublin: transfer finding evidence lacks the CNAME chain: %+v", f)
	}
}

// TestSampleInventoryOnDefaultDB is acceptance 2: the shipped default database judges the sample inventory.
func TestSampleInventoryOnDefaultDB(t *testing.T) {
	t.Parallel()
	db, err := geoip.OpenDefault()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := LoadInventory(filepath.Join("testdata", "sample-inventory.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The lookups are pinned too: the database's age, and so the golden table, must not depend on today.
	lookups := func() time.Time { return time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC) }
	res, err := Audit(context.Background(), Config{Date: day0(t, "2025-09-30"), Now: lookups, Resolver: literalResolver(t),
		Locators: []Locator{db}}, inv)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		verdict   Verdict
		compliant bool
		countries string
	}{
		"patient-journal":   {VerdictInEEA, true, "NO"},
		"crm-azure-norway":  {VerdictInEEA, true, "NO"},
		"auth-ipv6":         {VerdictInEEA, true, "NO"},
		"backups-stockholm": {VerdictInEEA, true, "SE"},
		"webshop-frankfurt": {VerdictInEEA, true, "DE"},
		"support-dublin":    {VerdictInEEA, true, "IE"},
		"newsletter-london": {VerdictAdequate, true, "GB"},
		"analytics-us":      {VerdictMechanismRequired, false, "US"},
		"mail-us-sccs":      {VerdictMechanismRequired, true, "US"},
		"replicated-db":     {VerdictMechanismRequired, false, "NO,US"},
		"edge-dns-logs":     {VerdictUnknown, false, "AU"},
	}
	if len(res.Stores) != len(want) {
		t.Fatalf("%d stores, want %d", len(res.Stores), len(want))
	}
	for _, s := range res.Stores {
		w, ok := want[s.Store.Name]
		if !ok {
			t.Errorf("unexpected store %s", s.Store.Name)
			continue
		}
		if s.Verdict != w.verdict || s.Compliant != w.compliant || strings.Join(s.Countries, ",") != w.countries {
			t.Errorf("%s: %s compliant=%v %v; want %s compliant=%v %s", s.Store.Name, s.Verdict, s.Compliant,
				s.Countries, w.verdict, w.compliant, w.countries)
		}
	}
	if hasRule(byName(t, res, "edge-dns-logs").Findings, RuleAnycast) == nil {
		t.Error("edge-dns-logs: no anycast finding")
	}
	// Records of processing: one row per store and destination country.
	var rows []string
	for _, r := range res.Records {
		rows = append(rows, r.Store+"/"+r.Country+"/"+r.Article)
	}
	for _, w := range []string{"replicated-db/NO/GDPR Art. 44 (no transfer)", "replicated-db/US/GDPR Art. 44 (violation)",
		"mail-us-sccs/US/GDPR Art. 46(2)(c)", "newsletter-london/GB/GDPR Art. 45"} {
		if !slices.Contains(rows, w) {
			t.Errorf("records lack %s: %v", w, rows)
		}
	}

	// The table layout is pinned by a golden file.
	var buf bytes.Buffer
	if err := WriteTable(&buf, res); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "sample-table.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantTable, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), wantTable) {
		t.Errorf("table differs from %s (run with -update):\n%s", golden, buf.String())
	}
}

func literalResolverB(b *testing.B) *resolver.Resolver {
	b.Helper()
	r, err := resolver.New(resolver.Config{Servers: []string{"127.0.0.1:1"}})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func resolverResolution(a netip.Addr) resolver.Resolution {
	return resolver.Resolution{Host: a.String(), Addrs: []netip.Addr{a}, Resolver: "literal"}
}
