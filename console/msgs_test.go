package console

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

func strconvFormat(n int64) string { return strconv.FormatInt(n, 10) }

func httptestRequest(method, target string) *http.Request {
	return httptest.NewRequest(method, target, nil)
}

// usedMessages scans the templates ({{.L.T "..."}}, {{$l.Tf "..."}}) and the Go files (l.T("..."),
// Tf("...")) for the messages they translate, and adds the words marks and facets pass through T.
func usedMessages(t *testing.T) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	tmplRe := regexp.MustCompile(`\.Tf? "((?:[^"\\]|\\.)*)"`)
	goRe := regexp.MustCompile(`\.Tf?\("((?:[^"\\]|\\.)*)"`)
	files, _ := filepath.Glob("templates/*.html")
	gofiles, _ := filepath.Glob("*.go")
	for _, f := range append(files, gofiles...) {
		if filepath.Ext(f) == ".go" && len(f) > 8 && f[len(f)-8:] == "_test.go" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		re := tmplRe
		if filepath.Ext(f) == ".go" {
			re = goRe
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			s, err := strconv.Unquote(`"` + m[1] + `"`)
			if err != nil {
				t.Fatalf("%s: %q: %v", f, m[1], err)
			}
			add(s)
		}
	}
	for _, w := range []string{"running", "succeeded", "partial", "failed", "interrupted", "skipped",
		"violation", "warning", "inconclusive", "compliant", "not compliant", "not shown compliant", "valid", "invalid",
		"signature intact, signer not trusted", "unknown", "no data stores judged", "viewer", "operator", "admin",
		"quarterly", "ad_hoc", "sales_comparison", "critical", "high", "medium", "low", "info", "(no verdict)",
		"in_eea", "adequate", "transfer_mechanism_required", "needs_review", "compliance", "sales", "queued",
		"live", "stale", "never seen", "revoked", "synchronised", "not synchronised", "unavailable",
		"not reported yet", "has a live agent", "no live agent", "measured", "vantage_unavailable", "measuring",
		"waiting for an agent"} {
		add(w)
	}
	return out
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
