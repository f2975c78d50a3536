package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/varde/varde/reports/sign"
	"github.com/varde/varde/schedule"
	"github.com/varde/varde/storage"
)

// chromium finds Debian's chromium-headless-shell (which .ci/deps installs for CI), or another Chromium.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium-headless-shell", "headless-shell", "chromium", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium-headless-shell in CI: .ci/deps installs it (Makefile APT_PACKAGES)")
	}
	t.Skip("browser tests skipped: no chromium-headless-shell (apt-get install chromium-headless-shell, or make deps)")
	return ""
}

// screenshotDir is where the browser test leaves its screenshots: $VARDE_SCREENSHOTS when set (to keep
// and look at them), else the test's temp directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("VARDE_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// browserRun runs one action and fails the test with what it was doing.
func browserRun[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// unlabelled lists the page's form controls without a label, and its SVG figures without a title.
const unlabelled = `[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
	.filter(e => e.labels.length === 0 && !e.getAttribute('aria-label')).map(e => e.outerHTML)
	.concat([...document.querySelectorAll('svg')].filter(s => s.getAttribute('role') !== 'img' || !s.querySelector('title'))
	.map(s => 'svg ' + s.getAttribute('class')))`

// shoot checks the page's controls are labelled, and saves a full-page screenshot of it at desktop and at
// phone width.
func shoot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	if bad := browserRun(t, ctx, "labels on "+name, chromedp.Evaluate[[]string](unlabelled)); len(bad) > 0 {
		t.Errorf("%s: controls without a label: %q", name, bad)
	}
	for _, vp := range []struct {
		suffix string
		w, h   int64
		mobile bool
	}{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}} {
		opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
		if vp.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(vp.w, vp.h, opts...), chromedp.Sleep(150*time.Millisecond)); err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if vp.mobile {
			// Nothing but the tables, map and chart (which scroll in their own boxes) may be wider than a phone.
			wide := browserRun(t, ctx, "width on "+name, chromedp.Evaluate[[]string](`[...document.querySelectorAll('body *')]
				.filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && !e.closest('.scroll, .mapscroll, .chartfig'))
				.map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right) + ': ' + e.textContent.slice(0, 60))`))
			if len(wide) > 0 {
				t.Errorf("%s on a phone: wider than the screen: %q", name, wide)
			}
		}
		buf := browserRun(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(dir, name+"-"+vp.suffix+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
}

// TestBrowser drives the console in Chromium as a compliance officer would: opened without a session it
// goes to sign-in; sign in with a token, open the demo audit, filter its findings to violations, see
// the map and the chart, download the compliance PDF and verify its signature, create a schedule after
// seeing its next runs, start it now; a cross-origin form is refused; sign out. Each page is
// photographed at desktop and phone width ($VARDE_SCREENSHOTS keeps them).
func TestBrowser(t *testing.T) {
	bin := chromium(t)
	e := newEnv(t, true)
	shots := screenshotDir(t)
	downloads := t.TempDir()
	raw := e.adminToken(t)
	id := e.auditID
	base := e.srv.URL

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900), chromedp.Flag("lang", "en-GB"))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The first run starts the browser; it must not carry the timeout, or the timeout ends the browser.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	ctx, cancel := context.WithTimeout(bctx, 4*time.Minute)
	defer cancel()
	// The browser's own complaints: a script or style the CSP refused, a script error. There must be none
	// (the evil page's inline script is allowed by its own, absent, policy).
	var logMu sync.Mutex
	var complaints []string
	if err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *cdplog.EventEntryAdded:
			if ev.Entry != nil && (ev.Entry.Level == cdplog.EntryLevelError || strings.Contains(ev.Entry.Text, "Content Security Policy")) {
				msg = ev.Entry.URL + ": " + ev.Entry.Text
			}
		case *runtime.EventExceptionThrown:
			if ev.ExceptionDetails != nil {
				msg = "exception: " + ev.ExceptionDetails.Text
			}
		}
		if msg != "" {
			logMu.Lock()
			complaints = append(complaints, msg)
			logMu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		logMu.Lock()
		defer logMu.Unlock()
		for _, c := range complaints {
			// The refused cross-origin POST is a 403 the browser logs as a failed resource.
			if strings.Contains(c, "403") {
				continue
			}
			t.Errorf("browser: %s", c)
		}
	}()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		return browserRun(t, ctx, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
	}
	location := func() string { t.Helper(); return browserRun(t, ctx, "location", chromedp.Location()) }
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			page, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
			t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, page)
		}
	}

	// Without a session, the audit page goes to sign-in.
	auditURL := fmt.Sprintf("%s/audits/%d", base, id)
	do("open without a session", chromedp.Navigate(auditURL), chromedp.WaitVisible(chromedp.ID("token")))
	if loc, want := location(), base+"/signin?next="+url.QueryEscape(fmt.Sprintf("/audits/%d", id)); loc != want {
		t.Fatalf("without a session: at %s, want %s", loc, want)
	}
	shoot(t, ctx, shots, "01-signin")

	// Sign in: back at the audit page, where htmx loads the chain's status.
	// By keyboard: the token typed, then Enter.
	do("sign in", chromedp.SendKeys(chromedp.ID("token"), raw+kb.Enter), chromedp.WaitVisible(chromedp.CSS(`#chain .mark.good`)))
	if loc, chain := location(), text("#chain"); loc != auditURL || !strings.Contains(chain, "The chain holds") {
		t.Fatalf("after sign-in: at %s, chain %q", loc, chain)
	}
	shoot(t, ctx, shots, "03-audit")

	// Filter the findings to violations: a transfer needing a mechanism, judged not compliant.
	all := browserRun(t, ctx, "count findings", chromedp.Evaluate[int](`document.querySelectorAll('#findings li.finding').length`))
	do("filter by verdict", chromedp.Click(chromedp.CSS(`input[name="verdict"][value="transfer_mechanism_required"]`)))
	poll("verdict filter applied", `location.search.includes('verdict=transfer_mechanism_required')`)
	do("filter by compliance", chromedp.Click(chromedp.CSS(`input[name="compliant"][value="no"]`)))
	poll("compliance filter applied", `location.search.includes('compliant=no') && document.querySelectorAll('#findings li.finding').length > 0`)
	bad := browserRun(t, ctx, "count violations", chromedp.Evaluate[int](`document.querySelectorAll('#findings li.finding.bad').length`))
	every := browserRun(t, ctx, "every one a violation", chromedp.Evaluate[bool](
		`[...document.querySelectorAll('#findings li.finding > .fhead > .mark')].every(m => m.textContent.includes('violation'))`))
	if found := text("#findings"); bad == 0 || bad >= all || !every || !strings.Contains(found, "analytics-us") || strings.Contains(found, "patient-journal") {
		t.Fatalf("filtered to violations: %d of %d findings, all violations %v:\n%s", bad, all, every, found)
	}
	shoot(t, ctx, shots, "04-audit-violations")

	// The residency map: stores coloured by verdict with a word and symbol, vantages, RTT discs.
	do("map", chromedp.Navigate(fmt.Sprintf("%s/audits/%d/map", base, id)), chromedp.WaitVisible(chromedp.CSS(`svg.map`)))
	stores := browserRun(t, ctx, "stores", chromedp.Evaluate[int](`document.querySelectorAll('svg.map g.store').length`))
	vantages := browserRun(t, ctx, "vantages", chromedp.Evaluate[int](`document.querySelectorAll('svg.map g.vantage').length`))
	discs := browserRun(t, ctx, "discs", chromedp.Evaluate[int](`document.querySelectorAll('svg.map path.disc').length`))
	bads := browserRun(t, ctx, "not compliant stores", chromedp.Evaluate[[]string](`[...document.querySelectorAll('svg.map g.store.bad > title')].map(t => t.textContent)`))
	if stores < 6 || vantages != 1 || discs < 1 || !strings.Contains(strings.Join(bads, "|"), "analytics-us (US): ✖ not compliant") {
		t.Fatalf("map: %d stores, %d vantages, %d discs, not compliant: %q", stores, vantages, discs, bads)
	}
	shoot(t, ctx, shots, "05-map")

	// The latency chart, with the sales PDF's figures.
	do("latency", chromedp.Navigate(fmt.Sprintf("%s/audits/%d/latency", base, id)), chromedp.WaitVisible(chromedp.CSS(`svg.chart`)))
	bars := browserRun(t, ctx, "bars", chromedp.Evaluate[int](`document.querySelectorAll('svg.chart rect.bar').length`))
	cells := browserRun(t, ctx, "figures", chromedp.Evaluate[[][]string](`[...document.querySelectorAll('table.num tbody tr')].map(r => [...r.children].map(c => c.textContent.trim()))`))
	if bars < 3 || len(cells) != 3 {
		t.Fatalf("latency chart: %d bars, table %q", bars, cells)
	}
	checkSalesFigures(t, e, cells)
	shoot(t, ctx, shots, "06-latency")

	// Reports: both signatures verified; download the compliance PDF and verify it here.
	var compliance storage.Report
	for _, r := range e.result.Reports {
		if r.Kind == "compliance" {
			compliance = r
		}
	}
	do("reports", chromedp.Navigate(fmt.Sprintf("%s/audits/%d/reports", base, id)), chromedp.WaitVisible(chromedp.CSS(`ul.reports`)))
	sigs := browserRun(t, ctx, "signatures", chromedp.Evaluate[[]string](`[...document.querySelectorAll('li.report dd.sig')].map(d => d.textContent.trim())`))
	if len(sigs) != 2 || sigs[0] != "✔ valid" || sigs[1] != "✔ valid" {
		t.Fatalf("signature results on the reports page: %q", sigs)
	}
	shoot(t, ctx, shots, "07-reports")
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	do("download", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: new(true)})
		return err
	}), chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[href="/reports/%d/pdf"]`, compliance.ID))))
	var guid string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			guid = ev.GUID
			break
		}
	}
	pdf, err := os.ReadFile(filepath.Join(downloads, guid))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pdf)
	vr, err := sign.Verify(pdf, sign.VerifyConfig{Roots: e.roots, Now: e.clock.Now})
	if err != nil || !vr.Valid() || hex.EncodeToString(sum[:]) != compliance.SHA256 {
		t.Fatalf("downloaded compliance PDF: %v, valid %v, sha256 %x (stored %s)", err, vr != nil && vr.Valid(), sum, compliance.SHA256)
	}

	// A schedule: its next four runs, in its zone, before saving; then save and start it now.
	cron, tz := "0 6 1 1,4,7,10 *", "Europe/Oslo"
	do("schedule form", chromedp.Navigate(base+"/schedules/new"), chromedp.WaitVisible(chromedp.ID("s-cron")),
		chromedp.SetValue(chromedp.ID("s-config"), "fjordnett-quarterly"),
		chromedp.SetValue(chromedp.ID("s-cron"), cron), chromedp.SetValue(chromedp.ID("s-tz"), tz),
		chromedp.Click(chromedp.CSS(`button[value="preview"]`)))
	poll("next runs", `document.querySelectorAll('#nextruns li').length === 4 && document.querySelector('#nextruns li').textContent.includes('06:00')`)
	runs := browserRun(t, ctx, "next runs", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#nextruns li')].map(li => li.textContent.trim())`))
	want, err := schedule.NextRuns("CRON_TZ="+tz+" "+cron, e.clock.Now(), 4)
	if err != nil {
		t.Fatal(err)
	}
	oslo, _ := time.LoadLocation(tz)
	for i := range want {
		if i >= len(runs) || runs[i] != (locale{"en"}).TimeIn(want[i].In(oslo)) {
			t.Fatalf("next runs shown %q, want %v in %s", runs, want, tz)
		}
	}
	if !strings.HasPrefix(runs[0], "2027-01-01 06:00 CET (+01:00)") {
		t.Fatalf("first run %q, want 2027-01-01 06:00 CET", runs[0])
	}
	if ss, _ := e.store.ListSchedules(context.Background()); len(ss) != 0 {
		t.Fatal("showing the next runs saved the schedule")
	}
	shoot(t, ctx, shots, "08-schedule-form")
	browserRun(t, ctx, "save schedule", chromedp.WaitEvent(cdppage.LoadEventFired, nil, chromedp.Click(chromedp.CSS(`button[value="save"]`))))
	ss, err := e.store.ListSchedules(context.Background())
	if flash := text(`p[role="status"]`); err != nil || len(ss) != 1 || ss[0].Spec != "CRON_TZ="+tz+" "+cron || !strings.Contains(flash, "Saved schedule #") {
		t.Fatalf("saved schedules %+v (%v), flash %q", ss, err, flash)
	}
	browserRun(t, ctx, "start now", chromedp.WaitEvent(cdppage.LoadEventFired, nil, chromedp.Click(chromedp.CSS(`form[action$="/run"] button`))))
	poll("started", `document.querySelector('p[role="status"]').textContent.includes('Started audit run')`)
	queued, _, err := e.store.ListRuns(context.Background(), storage.RunFilter{}, 0)
	if err != nil || len(queued) != 1 {
		t.Fatalf("start now: runs %+v (%v)", queued, err)
	}
	shoot(t, ctx, shots, "09-schedules")
	// The agents: each with its vantage, status, last seen, version and clock state in words and symbols,
	// vantages without a live agent flagged; an admin revokes one through the confirmation form.
	f := agentFleet(t, e)
	do("agents", chromedp.Navigate(base+"/agents"), chromedp.WaitVisible(chromedp.CSS("table.agents")))
	rows := browserRun(t, ctx, "agent rows", chromedp.Evaluate[[]string](`[...document.querySelectorAll('table.agents tbody tr')].map(r => r.textContent.replace(/\s+/g, ' ').trim())`))
	if alert := text(`p[role="alert"]`); len(rows) != 4 || !strings.Contains(alert, "No live agent at malmo, oslo, stockholm") ||
		!strings.Contains(strings.Join(rows, "\n"), "✔ synchronised") {
		t.Fatalf("agents page: alert %q, rows:\n%s", alert, strings.Join(rows, "\n"))
	}
	shoot(t, ctx, shots, "12-agents")
	do("revoke form", chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[href="/agents/%d/revoke"]`, f.stockholm))), chromedp.WaitVisible(chromedp.CSS("button.danger")))
	shoot(t, ctx, shots, "13-agent-revoke")
	browserRun(t, ctx, "revoke", chromedp.WaitEvent(cdppage.LoadEventFired, nil, chromedp.Click(chromedp.CSS("button.danger"))))
	if flash := text(`p[role="status"]`); !strings.Contains(flash, fmt.Sprintf("Agent %d revoked", f.stockholm)) {
		t.Fatalf("after revoking: %q", flash)
	}
	if a, err := e.store.AgentByID(context.Background(), f.stockholm); err != nil || a.RevokedAt == nil {
		t.Fatalf("agent %d not revoked: %+v %v", f.stockholm, a, err)
	}

	do("dashboard", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("h-sched")))
	if dash := text("main"); !strings.Contains(dash, "fjordnett-quarterly") || !strings.Contains(dash, "Needs attention") {
		t.Fatalf("dashboard:\n%s", dash)
	}
	shoot(t, ctx, shots, "02-dashboard")
	do("audits list", chromedp.Navigate(base+"/audits?status=succeeded"), chromedp.WaitVisible(chromedp.CSS("table.audits")))
	shoot(t, ctx, shots, "02-audits")

	// The language switch: the audit page in bokmål, then back to English.
	do("switch to bokmål", chromedp.Click(chromedp.CSS("a.lang")), chromedp.WaitVisible(chromedp.CSS("table.audits")))
	do("audit in bokmål", chromedp.Navigate(auditURL), chromedp.WaitVisible(chromedp.CSS(`#chain .mark.good`)))
	if h1, chain := text("h1"), text("#chain"); !strings.HasPrefix(h1, fmt.Sprintf("Revisjon %d", id)) || !strings.Contains(chain, "Rekken holder") {
		t.Fatalf("in bokmål: %q, %q", h1, chain)
	}
	shoot(t, ctx, shots, "11-audit-nb")
	do("switch to English", chromedp.Click(chromedp.CSS("a.lang")), chromedp.WaitVisible(chromedp.CSS(`#chain .mark.good`)))

	// A form on another origin posting to the console is refused, and starts nothing.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s/schedules/%d/run"></form>
<script>document.getElementById('f').submit()</script>`, base, ss[0].ID)
	}))
	defer evil.Close()
	do("cross-origin form", chromedp.Navigate(evil.URL), chromedp.WaitVisible(chromedp.CSS(`p[role="alert"]`)))
	after, _, _ := e.store.ListRuns(context.Background(), storage.RunFilter{}, 0)
	if loc, page := location(), text("main"); !strings.HasPrefix(loc, base) || !strings.Contains(page, "Cross-origin request refused") || len(after) != 1 {
		t.Fatalf("cross-origin POST: at %s, %d runs, page:\n%s", loc, len(after), page)
	}
	shoot(t, ctx, shots, "10-cross-origin-refused")

	// Sign out: back to sign-in, and the audits need a session again.
	do("sign out", chromedp.Navigate(base+"/"), chromedp.Click(chromedp.CSS(`form[action="/signout"] button`)),
		chromedp.WaitVisible(chromedp.ID("token")), chromedp.Navigate(base+"/audits"), chromedp.WaitVisible(chromedp.ID("token")))
	if loc := location(); loc != base+"/signin?next=%2Faudits" {
		t.Fatalf("after sign-out: at %s", loc)
	}
	t.Logf("screenshots in %s", shots)
}

// checkSalesFigures holds the console's latency table to the sales PDF: every figure it shows is in the
// PDF's text.
func checkSalesFigures(t *testing.T, e *env, cells [][]string) {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no pdftotext in CI (poppler-utils)")
		}
		t.Log("pdftotext missing: the latency figures are not compared with the sales PDF")
		return
	}
	var path string
	for _, r := range e.result.Reports {
		if r.Kind == "sales" {
			path = r.Path
		}
	}
	out, err := exec.Command("pdftotext", "-layout", path, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(out), "\n")
	for _, row := range cells {
		// Host, then ICMP p50, p95, samples, TCP p50, p95, samples: the PDF's table row, in order (the
		// label may wrap onto lines of its own).
		want := strings.Join(row[1:], " ")
		found := false
		for _, l := range lines {
			f := strings.Fields(l)
			for i := range f {
				if f[i] == row[1] && strings.Join(f[i:], " ") == want {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("target %q: the console shows %q, which is no row of the sales PDF:\n%s", row[0], want, out)
		}
	}
}
