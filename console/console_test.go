package console

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/varde/varde/evidencelog"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/token"
)

func get(t *testing.T, c *http.Client, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// Every page of the demo audit reads with JavaScript off: the content is in the HTML the server sends,
// and htmx only swaps parts of it.
func TestPagesReadableWithoutJavaScript(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	c := e.signIn(t, e.adminToken(t))
	id := itoa(e.auditID)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/", []string{"Needs attention", "Latest audits", "Audit " + id}},
		{"/audits", []string{"Filter audits", "Fjordnett Hosting AS"}},
		{"/audits/" + id, []string{"Steps", "residency", "Check the evidence chain", "findings match", "analytics-us"}},
		{"/audits/" + id + "/chain", []string{"The chain holds", "The seal matches the recomputed chain.", "The log in the database grew from it."}},
		{"/audits/" + id + "/map", []string{`<svg`, `class="store bad"`, "analytics-us", `class="vantage"`, `class="disc"`}},
		{"/audits/" + id + "/latency", []string{`class="chart"`, "Frankfurt", "US East"}},
		{"/audits/" + id + "/reports", []string{"Download PDF", "valid"}},
		{"/schedules", []string{"New schedule"}},
		{"/schedules/new", []string{"Cron expression", "fjordnett-quarterly"}},
		{"/agents", []string{"Enrolled agents", "No agents are enrolled.", "No vantages yet"}},
	} {
		resp, body := get(t, c, e.srv.URL+tc.path)
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %s\n%s", tc.path, resp.Status, body)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s: no %q in the page", tc.path, w)
			}
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: CSP %q", tc.path, csp)
		}
		// No inline script and no inline style: the CSP would refuse them.
		if regexp.MustCompile(`<script(?:\s+[^>]*)?>\s*[^<\s]`).MatchString(body) || strings.Contains(body, " style=") || strings.Contains(body, " onclick=") {
			t.Errorf("GET %s: inline script or style in the page", tc.path)
		}
	}
}

func itoa(n int64) string { return strconvFormat(n) }

// A page opened without a session goes to sign-in, and comes back after it.
func TestNoSessionRedirectsToSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	c := e.client(t)
	for _, p := range []string{"/", "/audits", "/audits/1", "/audits/1/map", "/schedules/new"} {
		resp, _ := get(t, c, e.srv.URL+p)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin?next="+url.QueryEscape(p) {
			t.Errorf("GET %s without a session: %s to %q", p, resp.Status, resp.Header.Get("Location"))
		}
	}
	// An htmx request gets told to load the sign-in page, not a fragment of it.
	resp, _ := get(t, c, e.srv.URL+"/audits/1/chain", "HX-Request", "true")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("HX-Redirect"), "/signin") {
		t.Errorf("htmx request without a session: %s, HX-Redirect %q", resp.Status, resp.Header.Get("HX-Redirect"))
	}
}

// The session cookie: HttpOnly, SameSite=Strict, Secure except on plain-HTTP localhost; its expiry is
// the server's, and sign-out deletes it on the server.
func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	raw := e.adminToken(t)
	c := e.client(t)
	resp, _ := post(t, c, e.srv.URL+"/signin", url.Values{"token": {raw}, "next": {"/audits"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/audits" {
		t.Fatalf("sign in: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == sessionCookie {
			ck = k
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure {
		t.Fatalf("session cookie on 127.0.0.1: %+v (want HttpOnly, SameSite=Strict, not Secure on loopback)", ck)
	}
	// Behind TLS or on another host the cookie is Secure.
	r := httptestRequest("POST", "https://console.example/signin")
	if !secureCookie(r) {
		t.Error("cookie not Secure for console.example")
	}
	if resp, _ := get(t, c, e.srv.URL+"/audits"); resp.StatusCode != 200 {
		t.Fatalf("with a session: %s", resp.Status)
	}
	// Server-side expiry: eight hours of the test clock later the session is gone.
	e.clock.Add(8*time.Hour + time.Second)
	if resp, _ := get(t, c, e.srv.URL+"/audits"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after 8h: %s, want a redirect to sign-in", resp.Status)
	}
	// Sign in again (which sweeps the expired session away), then sign out: the session row is deleted,
	// so a copied cookie is worthless.
	other := e.signIn(t, raw)
	e.clock.Add(8*time.Hour + time.Second)
	resp, _ = post(t, c, e.srv.URL+"/signin", url.Values{"token": {raw}})
	if n, err := e.store.SweepConsoleSessions(context.Background(), e.clock.Now()); err != nil || n != 0 {
		t.Errorf("expired sessions left after a sign-in: %d (%v)", n, err)
	}
	if resp, _ := get(t, other, e.srv.URL+"/audits"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a swept session still works: %s", resp.Status)
	}
	var secret string
	for _, k := range resp.Cookies() {
		if k.Name == sessionCookie {
			secret = k.Value
		}
	}
	if resp, _ := post(t, c, e.srv.URL+"/signout", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin" {
		t.Fatalf("sign out: %s", resp.Status)
	}
	if _, err := e.store.ConsoleSession(context.Background(), secret, e.clock.Now()); err == nil {
		t.Fatal("the session outlived sign-out in the database")
	}
	thief := e.client(t)
	req, _ := http.NewRequest("GET", e.srv.URL+"/audits", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: secret})
	if resp, err := thief.Do(req); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a signed-out cookie replayed: %v %v", resp.Status, err)
	}
}

// Bad, expired and revoked tokens do not sign in; revoking a token ends its sessions at once.
func TestTokensAndRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	c := e.client(t)
	for _, bad := range []string{"", "nonsense", "varde_" + strings.Repeat("A", 38)} {
		resp, body := post(t, c, e.srv.URL+"/signin", url.Values{"token": {bad}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `role="alert"`) {
			t.Errorf("token %q: %s", bad, resp.Status)
		}
	}
	noRead := e.token(t, "runner", token.AuditsRun)
	if resp, body := post(t, c, e.srv.URL+"/signin", url.Values{"token": {noRead}}); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "audits:read") {
		t.Errorf("token without audits:read: %s", resp.Status)
	}
	viewer := e.signIn(t, e.token(t, "auditor", token.AuditsRead, token.ReportsRead))
	if resp, _ := get(t, viewer, e.srv.URL+"/schedules/new"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer opens the schedule form: %s", resp.Status)
	}
	if _, body := get(t, viewer, e.srv.URL+"/schedules"); strings.Contains(body, "New schedule") || !strings.Contains(body, "(viewer)") {
		t.Errorf("viewer's schedules page offers writing, or does not say the role")
	}
	opTok := e.token(t, "ops", token.AuditsRead, token.AuditsRun, token.SchedulesWrite)
	op := e.signIn(t, opTok)
	if _, body := get(t, op, e.srv.URL+"/"); !strings.Contains(body, "(operator)") {
		t.Error("operator's role not shown")
	}
	toks, err := e.store.ListTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range toks {
		if tk.Name == "ops" {
			if _, err := e.store.RevokeToken(context.Background(), tk.ID, e.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if resp, _ := get(t, op, e.srv.URL+"/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("session of a revoked token: %s, want sign-in", resp.Status)
	}
	// An expired token does not sign in.
	exp := e.token(t, "old", token.AuditsRead)
	e.clock.Add(91 * 24 * time.Hour)
	if resp, _ := post(t, c, e.srv.URL+"/signin", url.Values{"token": {exp}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired token: %s", resp.Status)
	}
}

// A write from another origin is refused by http.CrossOriginProtection and changes nothing.
func TestCrossOriginWriteRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	c := e.signIn(t, e.adminToken(t))
	form := url.Values{"config": {"fjordnett-quarterly"}, "cron": {"@quarterly"}, "tz": {"Europe/Oslo"}, "enabled": {"on"}}
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site", "Origin", "http://127.0.0.1:1"},
		{"Origin", "https://evil.example"},
	} {
		resp, body := post(t, c, e.srv.URL+"/schedules", form, hdr...)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Cross-origin request refused") {
			t.Errorf("POST with %v: %s", hdr, resp.Status)
		}
	}
	if ss, err := e.store.ListSchedules(context.Background()); err != nil || len(ss) != 0 {
		t.Fatalf("a refused cross-origin POST stored schedules: %v %v", ss, err)
	}
	// The same form from the console's own page is taken.
	resp, _ := post(t, c, e.srv.URL+"/schedules", form, "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("same-origin POST: %s", resp.Status)
	}
}

// Norwegian bokmål is chosen from Accept-Language (nb, no and nn) and by the switch, which wins.
func TestLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	c := e.client(t)
	for lang, want := range map[string]string{"nb-NO,nb;q=0.9,en;q=0.5": "Logg inn", "nn": "Logg inn", "no": "Logg inn",
		"en-GB,en;q=0.8": "Sign in", "de-DE": "Sign in", "": "Sign in"} {
		_, body := get(t, c, e.srv.URL+"/signin", "Accept-Language", lang)
		if !strings.Contains(body, "<h1>"+want+"</h1>") {
			t.Errorf("Accept-Language %q: want %q", lang, want)
		}
	}
	resp, _ := get(t, c, e.srv.URL+"/lang?to=en&back=/signin")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin" {
		t.Fatalf("switch: %s %q", resp.Status, resp.Header.Get("Location"))
	}
	if _, body := get(t, c, e.srv.URL+"/signin", "Accept-Language", "nb"); !strings.Contains(body, "<h1>Sign in</h1>") || !strings.Contains(body, `lang="en"`) {
		t.Error("the switch did not win over Accept-Language")
	}
	// The switch sends nobody off-site.
	for _, back := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example"} {
		resp, _ := get(t, c, e.srv.URL+"/lang?to=nb&back="+url.QueryEscape(back))
		if resp.Header.Get("Location") != "/" {
			t.Errorf("back=%q: redirected to %q", back, resp.Header.Get("Location"))
		}
	}
}

// Every message the templates and handlers use has its bokmål.
func TestEveryMessageHasBokmal(t *testing.T) {
	t.Parallel()
	msgs := usedMessages(t)
	if len(msgs) < 50 {
		t.Fatalf("found only %d messages: the scan is broken", len(msgs))
	}
	for _, m := range msgs {
		if _, ok := nb[m]; !ok {
			t.Errorf("no bokmål for %q", m)
		}
	}
}

// The chain page shows the audit's seal in the evidence log, whether the seal still matches the chain,
// and the signed checkpoint that covers it, checked against the log the database holds.
func TestChainSealAndCheckpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	ctx := context.Background()
	// job.Run seals the audits it finishes; seal it here if it did not.
	if _, err := e.store.AuditSeal(ctx, e.auditID); errors.Is(err, storage.ErrNotFound) {
		if _, err := e.store.SealAudit(ctx, e.auditID, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	leaves, err := e.store.LogLeaves(ctx)
	if err != nil || len(leaves) == 0 {
		t.Fatalf("log: %v %v", leaves, err)
	}
	data := make([][]byte, len(leaves))
	for i, l := range leaves {
		data[i] = l.Data
	}
	tree, err := evidencelog.Build(data)
	if err != nil {
		t.Fatal(err)
	}
	keys, cps := t.TempDir(), t.TempDir()
	keyPath, pubPath, err := evidencelog.GenerateKey(keys, "log.varde.test")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := evidencelog.LoadSigner(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := evidencelog.Sign(tree, tree.Size(), signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evidencelog.Write(cps, cp); err != nil {
		t.Fatal(err)
	}
	verifier, err := evidencelog.LoadVerifier(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Now: e.clock.Now, Evidence: e.store, Sessions: e.store, Tokens: StoreTokens{Store: e.store, Now: e.clock.Now},
		CheckpointDir: cps, LogKey: verifier})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	e.srv = srv
	c := e.signIn(t, e.adminToken(t))
	_, body := get(t, c, srv.URL+"/audits/"+itoa(e.auditID)+"/chain")
	for _, want := range []string{"The chain holds", "Sealed in the evidence log as leaf", "The seal matches the recomputed chain.",
		"Signed checkpoint log.varde.test", "The log in the database grew from it."} {
		if !strings.Contains(body, want) {
			t.Errorf("chain page: no %q in\n%s", want, body)
		}
	}
}

// A report file changed on disk after its row was recorded is shown as not matching, and is not served.
func TestChangedReportFileRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	c := e.signIn(t, e.adminToken(t))
	var rep storage.Report
	for _, r := range e.result.Reports {
		if r.Kind == "compliance" {
			rep = r
		}
	}
	if resp, _ := get(t, c, e.srv.URL+"/reports/"+itoa(rep.ID)+"/pdf"); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("download: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	b, err := os.ReadFile(rep.Path)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, "% appended after signing\n"...)
	if err := os.WriteFile(rep.Path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, c, e.srv.URL+"/reports/"+itoa(rep.ID)+"/pdf"); resp.StatusCode != http.StatusConflict {
		t.Errorf("download of a changed file: %s, want 409", resp.Status)
	}
	if _, body := get(t, c, e.srv.URL+"/audits/"+itoa(e.auditID)+"/reports"); !strings.Contains(body, "does not match the sha256") || !strings.Contains(body, "✖") {
		t.Errorf("reports page does not flag the changed file")
	}
}
