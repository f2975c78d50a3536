package console

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/varde/varde/evidencelog"
	"github.com/varde/varde/job"
	"github.com/varde/varde/reports/sign"
	"github.com/varde/varde/schedule"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp/pgtest"
	"github.com/varde/varde/token"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// clock is the tests' now; it moves only when a test moves it. No test depends on today's date: tokens,
// sessions, certificates and schedules are all made and checked against it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)} }

// env is a console on a throwaway database: migrated as the owner, served as varde_writer (so the
// session table's grants are exercised), with real tokens, the real schedule service (insert-only: runs
// are enqueued, not run) and, when asked, the demo audit run by job.Run with its signed reports.
type env struct {
	clock   *clock
	urls    pgtest.URLs
	store   *storage.Store
	sched   *schedule.Service
	h       *Handler
	srv     *httptest.Server
	dir     string
	roots   *x509.CertPool
	auditID int64
	result  *job.Result
}

// testInventory is the demo inventory plus a store on loopback, which the latency probes measure, so
// the audit has an RTT disc to draw.
const testInventoryExtra = `
  - name: cache-loopback
    host: 127.0.0.1
    kind: redis
    purpose: session cache on the audited host
    data_category: ordinary
    role: controller
`

const testConfig = `organisation: Fjordnett Hosting AS (Bjørvika, Oslo)
kind: quarterly
period: 2026-Q3
vantage: oslo-nix-1
vantages:
  - {name: oslo-nix-1, city: Oslo, latitude: 59.91, longitude: 10.75, network: NIX}
probes: {icmp: false, count: 10, tcp_count: 8, interval: 5ms, timeout: 1s}
targets:
  - {name: oslo-nix,  label: "Our DC via NIX", lab_rtt: 2ms,  port: 443, ours: true}
  - {name: frankfurt, label: "Frankfurt",      lab_rtt: 25ms, port: 443}
  - {name: us-east,   label: "US East",        lab_rtt: 95ms, port: 443}
inventory: stores.yaml
`

func newEnv(t testing.TB, withAudit bool) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{clock: newClock(), urls: pgtest.DatabaseRoles(t), dir: t.TempDir()}
	owner, err := storage.Open(ctx, storage.Config{DatabaseURL: e.urls.Owner, SkipSchemaCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	owner.Close()
	if _, err := schedule.Migrate(ctx, e.urls.Owner, nil); err != nil {
		t.Fatal(err)
	}
	if e.store, err = storage.Open(ctx, storage.Config{DatabaseURL: e.urls.Writer, MaxConns: 8}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.store.Close)

	// The config directory the service resolves uploaded configs in: the demo inventory and one more store.
	cfgDir := filepath.Join(e.dir, "configs")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	inv, err := os.ReadFile("../demo/stores.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "stores.yaml"), append(inv, testInventoryExtra...), 0o644); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(e.dir, "keys")
	e.sched, err = schedule.New(ctx, schedule.Config{DatabaseURL: e.urls.Writer, Store: e.store, Now: e.clock.Now, InsertOnly: true,
		Job: schedule.JobDefaults{ConfigDir: cfgDir, KeysDir: keys, InitKeys: true, OutputDir: filepath.Join(e.dir, "out")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sched.PutConfig(ctx, "fjordnett-quarterly", []byte(testConfig), "test"); err != nil {
		t.Fatal(err)
	}
	if withAudit {
		cfg, err := job.ParseConfigWith(filepath.Join(cfgDir, "audit.yaml"), []byte(testConfig), func(c *job.Config) {
			c.Signing = job.Signing{KeysDir: keys, Init: true}
			c.OutputDir = filepath.Join(e.dir, "out")
		})
		if err != nil {
			t.Fatal(err)
		}
		res, err := job.Run(ctx, cfg, job.Options{Store: e.store, Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		e.auditID, e.result = res.AuditID, res
		if e.roots, err = sign.LoadCertPool(filepath.Join(keys, sign.CAFile)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{Now: e.clock.Now, Evidence: e.store, Sessions: e.store,
		Tokens: StoreTokens{Store: e.store, Now: e.clock.Now}, Schedules: ServiceSchedules{Service: e.sched, Store: e.store},
		ReportTrust: sign.VerifyConfig{Roots: e.roots}, Agents: e.store}
	if withAudit {
		// job.Run sealed the audit and published a checkpoint, signed by the log key it made in keys/.
		if cfg.LogKey, err = evidencelog.LoadVerifier(filepath.Join(keys, evidencelog.PubKeyFile)); err != nil {
			t.Fatal(err)
		}
		cfg.CheckpointDir = filepath.Join(keys, "checkpoints")
	}
	e.h, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.h)
	t.Cleanup(e.srv.Close)
	return e
}

// token makes a real API token with scopes, valid for 90 days of the test clock.
func (e *env) token(t testing.TB, name string, scopes ...token.Scope) string {
	t.Helper()
	raw, err := token.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = string(s)
	}
	now := e.clock.Now()
	if _, err := e.store.CreateToken(context.Background(), storage.NewAPIToken{Name: name, SHA256: token.Digest(raw),
		Scopes: names, CreatedBy: "test", CreatedAt: now, ExpiresAt: now.Add(90 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return raw
}

func (e *env) adminToken(t testing.TB) string {
	return e.token(t, "officer", token.All()...)
}

// client is a cookie-keeping HTTP client that does not follow redirects, so tests see them.
func (e *env) client(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	// A client of its own: srv.Client() is one shared value, and its jar would be every test user's.
	return &http.Client{Transport: e.srv.Client().Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signIn posts a token to the sign-in form and returns the client holding the session.
func (e *env) signIn(t testing.TB, raw string) *http.Client {
	t.Helper()
	c := e.client(t)
	req, _ := http.NewRequest("POST", e.srv.URL+"/signin", strings.NewReader("token="+raw+"&next=/"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %s", resp.Status)
	}
	return c
}
