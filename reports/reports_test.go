package reports

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// needTool finds a command-line tool the test reads PDFs with. In CI (CI=true) a missing tool is a
// failure: the Makefile's APT_PACKAGES must install it.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (Debian package poppler-utils): %v", name, err)
		}
		t.Skipf("%s not installed (Debian package poppler-utils)", name)
	}
	return p
}

func renderCompliance(t *testing.T, m ComplianceModel, opts Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Compliance(&buf, m, opts); err != nil {
		t.Fatalf("Compliance: %v", err)
	}
	return buf.Bytes()
}

func renderSales(t *testing.T, m SalesModel, opts Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Sales(&buf, m, opts); err != nil {
		t.Fatalf("Sales: %v", err)
	}
	return buf.Bytes()
}

// pdfText writes pdf to a temp file and returns pdftotext -layout output with the page count.
func pdfText(t *testing.T, pdf []byte) (string, int) {
	t.Helper()
	pdftotext := needTool(t, "pdftotext")
	pdfinfo := needTool(t, "pdfinfo")
	path := filepath.Join(t.TempDir(), "r.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pdftotext, "-layout", "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	info, err := exec.Command(pdfinfo, path).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfinfo: %v: %s", err, info)
	}
	pages := 0
	for l := range strings.SplitSeq(string(info), "\n") {
		if v, ok := strings.CutPrefix(l, "Pages:"); ok {
			if _, err := fmt.Sscan(strings.TrimSpace(v), &pages); err != nil {
				t.Fatalf("pdfinfo pages %q: %v", v, err)
			}
		}
		if v, ok := strings.CutPrefix(l, "Page size:"); ok && !strings.Contains(v, "595.28 x 841.89") {
			t.Errorf("page size %q, want A4 595.28 x 841.89 pts", strings.TrimSpace(v))
		}
	}
	return string(out), pages
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if string(want) != got {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\n got: %q\nwant: %q\n(go test -update rewrites it after a deliberate change)", path, i+1, g, w)
			}
		}
	}
}

func TestComplianceGolden(t *testing.T) {
	t.Parallel()
	pdf := renderCompliance(t, sampleCompliance(), Options{Now: fixedClock})
	text, pages := pdfText(t, pdf)
	golden(t, "compliance.golden", text)

	// Properties the golden file must keep, checked here so an -update cannot bless a regression.
	for _, want := range []string{
		"Fjordvarme Drift AS — avdeling Tromsø (Ærlig, Øvre Årdal)",
		"Målingene fra Tromsø ble gjort over mobilt reservesamband.",
		"vm-00.tromsø.",
		"Socket receive buffer",
		"størrelse",
		"pdfsig report.pdf",
		"varde report verify report.pdf --ca ca.pem",
		"varde verify --audit aud-2026q2-7f3c9e21",
		"Latency across the period (monitoring between audits)",
		"2026-04-01 –",
		"2026-05-14 –",
		"max 35 min",
		"× 5 min",
		"is still a bound on distance",
		"2026-06-30", // the day an audit measurement was taken
		"Page 1 of " + strconv.Itoa(pages),
		"Page " + strconv.Itoa(pages) + " of " + strconv.Itoa(pages),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q", want)
		}
	}
	// Findings: every violation comes before the first non-violation.
	fi := strings.Index(text, "Findings\n")
	ri := strings.Index(text, "Data-store residency")
	if fi < 0 || ri < fi {
		t.Fatalf("findings section not found before residency section")
	}
	sec := text[fi:ri]
	lastViol := strings.LastIndex(sec, " violation ")
	firstOther := len(sec)
	for _, v := range []string{" warning ", " inconclusive ", " pass "} {
		if i := strings.Index(sec, v); i >= 0 {
			firstOther = min(firstOther, i)
		}
	}
	if lastViol < 0 || lastViol > firstOther {
		t.Errorf("violations do not lead the findings (last violation at %d, first other verdict at %d)", lastViol, firstOther)
	}
	// Each table's header is repeated on every page it spans: the latency table spans pages.
	if n := strings.Count(text, "Median"); n < 2 {
		t.Errorf("latency header printed %d times, want it repeated after a page break", n)
	}
	// Long hashes are wrapped, never cut: both halves of the wrapped GeoIP sha256 appear.
	if !strings.Contains(strings.Join(strings.Fields(text), ""), hashB) {
		t.Errorf("chain head %s not found intact in text", hashB)
	}
}

func TestSalesGolden(t *testing.T) {
	t.Parallel()
	pdf := renderSales(t, sampleSales(), Options{Now: fixedClock})
	text, _ := pdfText(t, pdf)
	golden(t, "sales.golden", text)
	flat := strings.Join(strings.Fields(text), " ")
	for _, want := range []string{"Our DC via NIX", "Frankfurt", "US East", "0.62", "96.4", "n/a", "Målt fra kundens eget nett", "2026-06-29 08:00:00 UTC", "2400 samples in all",
		"Across the period", "2026-04-01 –", "13667", "median of the interval medians", "max 35 min"} {
		if !strings.Contains(flat, want) {
			t.Errorf("text lacks %q", want)
		}
	}
}

// The chart must be vector drawing, not an image.
func TestSalesChartIsVector(t *testing.T) {
	t.Parallel()
	pdf := renderSales(t, sampleSales(), Options{Now: fixedClock})
	if bytes.Contains(pdf, []byte("/Subtype /Image")) {
		t.Fatal("sales report embeds an image; the chart must be drawn")
	}
}

func TestDeterministicBytes(t *testing.T) {
	t.Parallel()
	a := renderCompliance(t, sampleCompliance(), Options{Now: fixedClock})
	b := renderCompliance(t, sampleCompliance(), Options{Now: fixedClock})
	if !bytes.Equal(a, b) {
		t.Fatalf("two renders of the same model and clock differ (%d vs %d bytes)", len(a), len(b))
	}
	s1 := renderSales(t, sampleSales(), Options{Now: fixedClock})
	s2 := renderSales(t, sampleSales(), Options{Now: fixedClock})
	if !bytes.Equal(s1, s2) {
		t.Fatal("two sales renders differ")
	}
	if !bytes.Contains(a, []byte("/CreationDate (D:20260701083000")) {
		t.Error("CreationDate does not come from the injected clock")
	}
	if !bytes.Contains(a, []byte("/Producer")) || !bytes.Contains(a, []byte("/FlateDecode")) {
		t.Error("missing fixed producer or compression")
	}
	later := renderCompliance(t, sampleCompliance(), Options{Now: func() time.Time { return fixedNow.Add(time.Hour) }})
	if bytes.Equal(a, later) {
		t.Error("a different clock gives the same bytes: the clock is not used")
	}
}

func TestInputOrderKept(t *testing.T) {
	t.Parallel()
	m := sampleCompliance()
	first := m.Findings[0]
	renderCompliance(t, m, Options{Now: fixedClock})
	if m.Findings[0] != first {
		t.Fatal("Compliance reordered the caller's findings")
	}
}

func TestSortFindings(t *testing.T) {
	t.Parallel()
	fs := []Finding{
		{RuleID: "a", Verdict: "pass", Severity: "critical"},
		{RuleID: "b", Verdict: "violation", Severity: "low"},
		{RuleID: "c", Verdict: "odd", Severity: "high"},
		{RuleID: "d", Verdict: "Violation", Severity: "critical"},
		{RuleID: "e", Verdict: "warning", Severity: "medium"},
	}
	SortFindings(fs)
	var got []string
	for _, f := range fs {
		got = append(got, f.RuleID)
	}
	if g := strings.Join(got, ""); g != "dbeac" {
		t.Fatalf("order %q, want dbeac", g)
	}
}

func TestBadModel(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		edit func(*ComplianceModel)
		want string
	}{
		"no org":      {func(m *ComplianceModel) { m.Organisation = " " }, "Organisation is empty"},
		"no audit":    {func(m *ComplianceModel) { m.AuditID = "" }, "AuditID is empty"},
		"period":      {func(m *ComplianceModel) { m.Period.Until = m.Period.From.Add(-time.Hour) }, "Period ends"},
		"received":    {func(m *ComplianceModel) { m.Latency[2].Received = 99 }, "Latency[2]"},
		"loss":        {func(m *ComplianceModel) { m.Latency[1].Loss = 2 }, "loss 2 outside"},
		"no finished": {func(m *ComplianceModel) { m.Finished = m.Started.Add(-time.Second) }, "Finished is before Started"},
		"monitoring":  {func(m *ComplianceModel) { m.Monitoring[1].Received = m.Monitoring[1].Sent + 1 }, "Monitoring[1] (bergen-bix → dc1.fjordvarme.no) has 130981 received"},
		"days":        {func(m *ComplianceModel) { m.Monitoring[2].Last = m.Monitoring[2].First.Add(-time.Hour) }, "Monitoring[2] (sto-netnod → dc1.fjordvarme.no) needs a first day no later than its last"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := sampleCompliance()
			c.edit(&m)
			var buf bytes.Buffer
			err := Compliance(&buf, m, Options{Now: fixedClock})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
			if buf.Len() != 0 {
				t.Fatal("bytes written for a rejected model")
			}
		})
	}
	s := sampleSales()
	s.Targets[1].ICMPP95 = time.Microsecond
	if err := Sales(&bytes.Buffer{}, s, Options{}); err == nil || !strings.Contains(err.Error(), `Targets[1] ("Frankfurt") has ICMP p95 below p50`) {
		t.Fatalf("sales err = %v", err)
	}
	s = sampleSales()
	s.Monitoring[0].Intervals = 0
	if err := Sales(&bytes.Buffer{}, s, Options{}); err == nil || !strings.Contains(err.Error(), "Monitoring[0] (bergen-bix → dc1.fjordvarme.no) has 0 intervals") {
		t.Fatalf("sales err = %v", err)
	}
	s = sampleSales()
	s.Targets = nil
	if err := Sales(&bytes.Buffer{}, s, Options{}); err == nil || !strings.Contains(err.Error(), "Targets is empty") {
		t.Fatalf("sales err = %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteError(t *testing.T) {
	t.Parallel()
	err := Sales(failWriter{}, sampleSales(), Options{Now: fixedClock})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want the writer's error", err)
	}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	d := newDoc(Options{Now: fixedClock}.withDefaults("t"))
	d.font(fontMono, "", 8)
	lines := d.wrap(hashA, 30)
	if len(lines) < 2 || strings.Join(lines, "") != hashA {
		t.Fatalf("hash wrapped to %q", lines)
	}
	for _, l := range lines {
		if w := d.width(l); w > 30 {
			t.Errorf("line %q is %.1f mm wide, max 30", l, w)
		}
	}
	d.font(fontSans, "", 8)
	lines = d.wrap("https://backup.example-cloud.com/buckets/fjordvarme-kundedata", 25)
	if !strings.HasSuffix(lines[0], "/") && !strings.HasSuffix(lines[0], ".") && !strings.HasSuffix(lines[0], "-") {
		t.Errorf("URL not broken at a soft break: %q", lines)
	}
	if got := d.wrap("æøå ÆØÅ\nandre linje", 100); len(got) != 2 || got[0] != "æøå ÆØÅ" {
		t.Errorf("wrap kept %q", got)
	}
}

// TestNothingOutsideMargins reads every word's box with pdftotext -bbox and checks that none
// crosses the page margins: cells wrap and rows break pages instead of running off the page. The
// model adds a finding taller than a page and unbroken strings wider than any column.
func TestNothingOutsideMargins(t *testing.T) {
	t.Parallel()
	pdftotext := needTool(t, "pdftotext")
	m := sampleCompliance()
	m.Findings = append(m.Findings, Finding{
		Subject: strings.Repeat("x", 300), RuleID: "RES-LONG", Verdict: "violation", Severity: "critical",
		LegalReference: "https://lovdata.no/dokument/NL/lov/2018-06-15-38/KAPITTEL_1#%C2%A71-et-veldig-langt-anker",
		Text:           repeatWords("Denne teksten er lengre enn en hel side og må deles over flere sider uten at noe forsvinner.", 90),
		Evidence:       strings.Repeat(hashA, 6),
	})
	m.Evidence.ChainHead = strings.Repeat(hashB, 3)
	s := sampleSales()
	s.Targets[0].Label = "Vårt datasenter i Oslo via NIX med en svært lang etikett som må brytes"
	for name, pdf := range map[string][]byte{
		"compliance": renderCompliance(t, m, Options{Now: fixedClock}),
		"sales":      renderSales(t, s, Options{Now: fixedClock}),
	} {
		path := filepath.Join(t.TempDir(), name+".pdf")
		if err := os.WriteFile(path, pdf, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(pdftotext, "-bbox", path, "-").Output()
		if err != nil {
			t.Fatalf("pdftotext -bbox: %v", err)
		}
		const mm = 72 / 25.4
		minX, maxX := MarginMM*mm-0.5, PageWidthPt-MarginMM*mm+0.5
		minY, maxY := MarginMM*mm-8*mm, PageHeightPt-MarginMM*mm+0.5 // the running header sits above the top margin
		words := 0
		for l := range strings.SplitSeq(string(out), "\n") {
			if !strings.Contains(l, "<word ") {
				continue
			}
			words++
			var x0, y0, x1, y1 float64
			if _, err := fmt.Sscanf(strings.TrimSpace(l), `<word xMin="%f" yMin="%f" xMax="%f" yMax="%f">`, &x0, &y0, &x1, &y1); err != nil {
				t.Fatalf("%s: parse %q: %v", name, l, err)
			}
			if x0 < minX || x1 > maxX || y0 < minY || y1 > maxY {
				t.Errorf("%s: word outside the margins: %s", name, strings.TrimSpace(l))
			}
		}
		if words < 100 {
			t.Fatalf("%s: only %d words found", name, words)
		}
		text := strings.Join(strings.Fields(string(out)), "")
		if name == "compliance" && !strings.Contains(stripTags(text), strings.Repeat(hashA, 6)) {
			t.Errorf("the long evidence hash is not intact across wrapped lines")
		}
	}
}

// stripTags drops pdftotext -bbox markup, leaving the words run together.
func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}
