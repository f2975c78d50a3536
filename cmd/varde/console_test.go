package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// varde serve mounts the web console at "/" beside the API: a page without a session goes to sign-in,
// the API token signs in, and the API and health paths are still the API's.
func TestServeMountsConsole(t *testing.T) {
	se := newServeEnv(t)
	se.start()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get(se.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, _ := get("/"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin?next=%2F" {
		t.Fatalf("GET / without a session: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	if resp, body := get("/static/htmx.min.js"); resp.StatusCode != 200 || !strings.Contains(body, "htmx") {
		t.Fatalf("htmx: %s", resp.Status)
	}
	if resp, body := get("/healthz"); resp.StatusCode != 200 || strings.Contains(body, "<html") {
		t.Fatalf("/healthz went to the console: %s %q", resp.Status, body)
	}
	req, _ := http.NewRequest("POST", se.base+"/signin", strings.NewReader(url.Values{"token": {se.token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %s", resp.Status)
	}
	if resp, body := get("/audits"); resp.StatusCode != 200 || !strings.Contains(body, "<h1>Audits</h1>") {
		t.Fatalf("GET /audits signed in: %s", resp.Status)
	}
	// The agents page reads the agents through the store serve hands the console.
	if resp, body := get("/agents"); resp.StatusCode != 200 || !strings.Contains(body, "<h1>Agents</h1>") {
		t.Fatalf("GET /agents signed in: %s", resp.Status)
	}
	se.must(200, "GET", "/v1/audits?limit=5", "", nil, nil)
}
