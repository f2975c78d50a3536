package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/varde/varde/api"
	"github.com/varde/varde/schedule"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp/pgtest"
	"github.com/varde/varde/token"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var update = flag.Bool("update", false, "rewrite docs/openapi.json from the served document")

// now is the clock of every test server: token expiry is judged against it, never the real date.
var now = time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)

type testServer struct {
	url   string
	store *storage.Store
	admin string // a token with every scope
}

// newServer runs the API on a fresh, migrated database (River's schema too), as varde_writer, with a
// real schedule service that enqueues runs but runs no jobs (InsertOnly).
func newServer(t *testing.T, rateLimit float64) *testServer {
	t.Helper()
	ctx := context.Background()
	urls := pgtest.DatabaseRoles(t)
	owner, err := storage.Open(ctx, storage.Config{DatabaseURL: urls.Owner, SkipSchemaCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	owner.Close()
	if _, err := schedule.Migrate(ctx, urls.Owner, nil); err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(ctx, storage.Config{DatabaseURL: urls.Writer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	clock := func() time.Time { return now }
	sched, err := schedule.New(ctx, schedule.Config{DatabaseURL: urls.Writer, Store: st, InsertOnly: true, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := sched.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sched.Stop(context.Background()) })
	mux := http.NewServeMux()
	if _, err := api.New(mux, api.Config{Store: st, Scheduler: sched, Now: clock, RateLimit: rateLimit}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	admin, err := api.IssueToken(ctx, st, "admin", scopeNames(token.All()), time.Hour, "test", now)
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{url: hs.URL, store: st, admin: admin.Token}
}

func scopeNames(ss []token.Scope) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// problem is an RFC 9457 body as Huma writes it.
type problem struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Errors []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
	} `json:"errors"`
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (s *testServer) do(t *testing.T, tok, method, path, contentType string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// wantProblem checks a problem+json answer with status and, when loc is set, an error at loc.
func wantProblem(t *testing.T, what string, r response, status int, loc string) problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s: Content-Type %q, want application/problem+json", what, ct)
	}
	var p problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("%s: %v in %s", what, err, r.body)
	}
	if p.Status != status || p.Title == "" {
		t.Fatalf("%s: problem %+v", what, p)
	}
	if loc != "" {
		found := false
		for _, e := range p.Errors {
			found = found || e.Location == loc
		}
		if !found {
			t.Fatalf("%s: no error at %s in %s", what, loc, r.body)
		}
	}
	return p
}

func TestAuth(t *testing.T) {
	t.Parallel()
	s := newServer(t, -1)
	ctx := context.Background()
	mk := func(name string, scopes []string, created time.Time, life time.Duration) (string, int64) {
		ct, err := api.IssueToken(ctx, s.store, name, scopes, life, "test", created)
		if err != nil {
			t.Fatal(err)
		}
		return ct.Token, ct.ID
	}
	reader, _ := mk("reader", []string{"audits:read"}, now, time.Hour)
	expired, _ := mk("expired", []string{"audits:read"}, now.Add(-2*time.Hour), time.Hour)
	revoked, revokedID := mk("revoked", []string{"audits:read"}, now, time.Hour)
	if _, err := s.store.RevokeToken(ctx, revokedID, now); err != nil {
		t.Fatal(err)
	}
	wellFormed, err := token.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	typo := []byte(reader)
	if typo[10] == 'a' {
		typo[10] = 'b'
	} else {
		typo[10] = 'a'
	}

	cases := []struct {
		name, tok, method, path string
		status                  int
		detail                  string
	}{
		{"no token", "", "GET", "/v1/audits", 401, "no token"},
		{"not a varde token", "ghp_abcdef", "GET", "/v1/audits", 401, "not a varde token"},
		{"typo", string(typo), "GET", "/v1/audits", 401, "checksum"},
		{"unknown token", wellFormed, "GET", "/v1/audits", 401, "no such token"},
		{"expired", expired, "GET", "/v1/audits", 401, "expired"},
		{"revoked", revoked, "GET", "/v1/audits", 401, "revoked"},
		{"missing scope", reader, "POST", "/v1/tokens", 403, "tokens:admin"},
		{"missing scope on a read of reports", reader, "GET", "/v1/audits/1/reports", 403, "reports:read"},
	}
	for _, c := range cases {
		r := s.do(t, c.tok, c.method, c.path, "application/json", []byte(`{"name":"x","scopes":["audits:read"],"expires_in":"1h"}`))
		p := wantProblem(t, c.name, r, c.status, "")
		if !strings.Contains(p.Detail, c.detail) {
			t.Errorf("%s: detail %q, want it to say %q", c.name, p.Detail, c.detail)
		}
		if c.status == 401 && r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
		if strings.Contains(string(r.body), "varde_") && c.tok != "" && strings.Contains(string(r.body), c.tok) {
			t.Errorf("%s: the answer repeats the token", c.name)
		}
	}
	if r := s.do(t, reader, "GET", "/v1/audits", "", nil); r.status != 200 {
		t.Fatalf("reader on /v1/audits: %d %s", r.status, r.body)
	}
	// Use is recorded (at most once a minute), never the token.
	tok, err := s.store.TokenByDigest(ctx, token.Digest(reader))
	if err != nil || tok.LastUsedAt == nil || !tok.LastUsedAt.Equal(now) {
		t.Fatalf("last used: %+v, %v", tok.LastUsedAt, err)
	}
	// Documents and health need no token.
	if r := s.do(t, "", "GET", "/openapi.json", "", nil); r.status != 200 {
		t.Fatalf("/openapi.json: %d", r.status)
	}
}

func TestTokensThroughTheAPI(t *testing.T) {
	t.Parallel()
	s := newServer(t, -1)
	r := s.do(t, s.admin, "POST", "/v1/tokens", "application/json", []byte(`{"name":"ci","scopes":["audits:read","audits:run"],"expires_in":"720h"}`))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var ct api.CreatedToken
	if err := json.Unmarshal(r.body, &ct); err != nil || token.Check(ct.Token) != nil || !ct.ExpiresAt.Equal(now.Add(720*time.Hour)) {
		t.Fatalf("created %+v, %v", ct, err)
	}
	if r := s.do(t, ct.Token, "GET", "/v1/runs", "", nil); r.status != 200 {
		t.Fatalf("new token: %d %s", r.status, r.body)
	}
	r = s.do(t, s.admin, "GET", "/v1/tokens", "", nil)
	if r.status != 200 || strings.Contains(string(r.body), ct.Token) || strings.Contains(string(r.body), "sha256") {
		t.Fatalf("list: %d %s (must hold neither tokens nor digests)", r.status, r.body)
	}
	r = s.do(t, s.admin, "POST", fmt.Sprintf("/v1/tokens/%d/revoke", ct.ID), "", nil)
	if r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	wantProblem(t, "revoked token", s.do(t, ct.Token, "GET", "/v1/runs", "", nil), 401, "")
	wantProblem(t, "revoke twice", s.do(t, s.admin, "POST", fmt.Sprintf("/v1/tokens/%d/revoke", ct.ID), "", nil), 409, "")
	wantProblem(t, "unknown scope", s.do(t, s.admin, "POST", "/v1/tokens", "application/json",
		[]byte(`{"name":"x","scopes":["audits:write"],"expires_in":"1h"}`)), 422, "body.scopes[0]")
	wantProblem(t, "lifetime too long", s.do(t, s.admin, "POST", "/v1/tokens", "application/json",
		[]byte(`{"name":"x","scopes":["audits:read"],"expires_in":"100000h"}`)), 422, "body.expires_in")
}

// A valid config for `varde audit run` that needs nothing outside the test (no inventory file).
const demoConfig = `organisation: Testfjord AS
period: 2026-Q3
vantages: [{name: oslo-nix-1, city: Oslo, latitude: 59.91, longitude: 10.75}]
probes: {icmp: false, tcp_count: 3, interval: 10ms}
targets: [{name: local, host: 127.0.0.1, port: 9}]
output_dir: out
`

func TestBadInputIsAProblemNamingTheField(t *testing.T) {
	t.Parallel()
	s := newServer(t, -1)
	put := func(name, body string) response {
		return s.do(t, s.admin, "PUT", "/v1/configs/"+name, "application/yaml", []byte(body))
	}
	if r := put("demo", demoConfig); r.status != 201 {
		t.Fatalf("upload config: %d %s", r.status, r.body)
	}
	post := func(path, body string) response {
		return s.do(t, s.admin, "POST", path, "application/json", []byte(body))
	}

	wantProblem(t, "malformed JSON", post("/v1/schedules", `{"config_name": "demo", "spec": `), 400, "")
	wantProblem(t, "unknown field", post("/v1/schedules", `{"config_name":"demo","spec":"@quarterly","colour":"red"}`), 422, "body.colour")
	wantProblem(t, "invalid cron", post("/v1/schedules", `{"config_name":"demo","spec":"61 * * * *"}`), 422, "body.spec")
	wantProblem(t, "invalid time zone", post("/v1/schedules", `{"config_name":"demo","spec":"CRON_TZ=Europe/Atlantis 0 6 * * *"}`), 422, "body.spec")
	wantProblem(t, "schedule of a missing config", post("/v1/schedules", `{"config_name":"nope","spec":"@quarterly"}`), 404, "")
	wantProblem(t, "config failing validation", put("broken", "organisation: X\nprobes: {tcp_count: -1}\n"), 422, "")
	wantProblem(t, "config that is not YAML", put("broken", "{{{"), 422, "")
	wantProblem(t, "bad config name", put("Not_OK!", demoConfig), 422, "path.name")
	wantProblem(t, "config over the size limit", put("big", "organisation: X\n#"+strings.Repeat("x", api.MaxConfigBytes)), 413, "")
	wantProblem(t, "unknown audit", s.do(t, s.admin, "GET", "/v1/audits/424242", "", nil), 404, "")
	wantProblem(t, "unknown audit's findings", s.do(t, s.admin, "GET", "/v1/audits/424242/findings", "", nil), 404, "")
	wantProblem(t, "audit id not a number", s.do(t, s.admin, "GET", "/v1/audits/abc", "", nil), 422, "path.id")
	wantProblem(t, "bad cursor", s.do(t, s.admin, "GET", "/v1/audits?cursor=zzz", "", nil), 422, "query.cursor")
	wantProblem(t, "unknown query parameter", s.do(t, s.admin, "GET", "/v1/audits?colour=red", "", nil), 422, "query.colour")
	wantProblem(t, "bad status filter", s.do(t, s.admin, "GET", "/v1/audits?status=done", "", nil), 422, "query.status")
	wantProblem(t, "run of a missing config", post("/v1/audits", `{"config_name":"nope"}`), 404, "")

	// Nothing half-made was stored: one config (demo, version 1), no schedule.
	ctx := context.Background()
	cs, err := s.store.ListConfigs(ctx)
	if err != nil || len(cs) != 1 || cs[0].Name != "demo" || cs[0].Version != 1 {
		t.Fatalf("configs after bad input: %+v, %v", cs, err)
	}
	if ss, err := s.store.ListSchedules(ctx); err != nil || len(ss) != 0 {
		t.Fatalf("schedules after bad input: %+v, %v", ss, err)
	}
}

func TestTooManyRequests(t *testing.T) {
	t.Parallel()
	s := newServer(t, 2) // 2 a second, bursts of 4
	var last response
	for range 10 {
		if last = s.do(t, s.admin, "GET", "/v1/runs", "", nil); last.status == 429 {
			break
		}
	}
	wantProblem(t, "over the rate", last, 429, "")
	if last.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// Unauthenticated attempts are limited by address too, so guessing costs time.
	for range 10 {
		if last = s.do(t, "", "GET", "/v1/runs", "", nil); last.status == 429 {
			break
		}
	}
	wantProblem(t, "unauthenticated over the rate", last, 429, "")
}

// The served OpenAPI document is the committed docs/openapi.json; go test ./api -update rewrites it.
func TestOpenAPIDocumentIsCommitted(t *testing.T) {
	t.Parallel()
	s := newServer(t, -1)
	r := s.do(t, "", "GET", "/openapi.json", "", nil)
	if r.status != 200 {
		t.Fatalf("/openapi.json: %d", r.status)
	}
	var doc bytes.Buffer
	if err := json.Indent(&doc, r.body, "", "  "); err != nil {
		t.Fatal(err)
	}
	doc.WriteByte('\n')
	const path = "../docs/openapi.json"
	if *update {
		if err := os.WriteFile(path, doc.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./api -run OpenAPI -update writes it)", err)
	}
	if !bytes.Equal(want, doc.Bytes()) {
		t.Fatalf("the served OpenAPI document differs from %s: run go test ./api -run OpenAPI -update and commit it", path)
	}
}
