package agentsrv_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/varde/varde/agent"
	"github.com/varde/varde/agentsrv"
	"github.com/varde/varde/agentwire"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp/pgtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(agentChild()) // an agent process of a lab test, in its vantage namespace
	}
	os.Exit(pgtest.Main(m))
}

// testClock runs at real speed from a pinned start, and can be pushed forward: leases expire without
// the test sleeping through them, and no test depends on today's date.
type testClock struct {
	base  time.Time
	start time.Time
	skip  atomic.Int64
}

func newClock() *testClock {
	return &testClock{base: time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC), start: time.Now()}
}

func (c *testClock) Now() time.Time {
	return c.base.Add(time.Since(c.start) + time.Duration(c.skip.Load()))
}

func (c *testClock) Advance(d time.Duration) { c.skip.Add(int64(d)) }

// logBuf collects the server's JSON log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// refusals returns the "agent request refused" lines.
func (l *logBuf) refusals() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "agent request refused" {
			out = append(out, m)
		}
	}
	return out
}

type env struct {
	t     *testing.T
	store *storage.Store
	srv   *agentsrv.Server
	ts    *httptest.Server
	clock *testClock
	logs  *logBuf
	url   string // the agent protocol's base URL
	dbURL string // the writer's
}

// migrate brings a fresh database to the schema this binary was built for.
func migrate(t *testing.T, urls pgtest.URLs) {
	t.Helper()
	ctx := context.Background()
	s, err := storage.Open(ctx, storage.Config{DatabaseURL: urls.Owner, SkipSchemaCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
}

func newEnv(t *testing.T, mod func(*agentsrv.Config)) *env {
	t.Helper()
	return newEnvOn(t, mod, nil)
}

// newEnvOn is newEnv with the server on ln (nil: loopback TCP).
func newEnvOn(t *testing.T, mod func(*agentsrv.Config), ln net.Listener) *env {
	t.Helper()
	urls := pgtest.DatabaseRoles(t)
	migrate(t, urls)
	ctx := context.Background()
	// The server connects as varde_writer: the grants of migration 9 are what it has.
	st, err := storage.Open(ctx, storage.Config{DatabaseURL: urls.Writer, MaxConns: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	e := &env{t: t, store: st, clock: newClock(), logs: &logBuf{}, dbURL: urls.Writer}
	cfg := agentsrv.Config{Store: st, Now: e.clock.Now, Logger: slog.New(slog.NewJSONHandler(e.logs, nil)),
		LeaseTTL: 2 * time.Second, Poll: 50 * time.Millisecond, ResultPoll: 50 * time.Millisecond, MaxWait: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	e.srv, err = agentsrv.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(agentwire.Prefix+"/", http.StripPrefix(agentwire.Prefix, e.srv.Handler()))
	e.ts = httptest.NewUnstartedServer(mux)
	if ln != nil {
		e.ts.Listener.Close()
		e.ts.Listener = ln
	}
	e.ts.StartTLS()
	t.Cleanup(e.ts.Close)
	e.url = e.ts.URL + agentwire.Prefix
	return e
}

// agentConfig is an agent of this env talking to base (the server, or a proxy in front of it).
func (e *env) agentConfig(base string) agent.Config {
	return agent.Config{Server: base, Dir: e.t.TempDir(), HTTPClient: e.ts.Client(), Now: e.clock.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), LeaseWait: time.Second, Retry: 100 * time.Millisecond,
		Version: "test-1"}
}

// enrol makes a token for vantage and enrols a new agent with it.
func (e *env) enrol(vantage string, mod func(*agent.Config)) *agent.Agent {
	e.t.Helper()
	ctx := context.Background()
	tok, err := e.srv.CreateEnrolment(ctx, vantage, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := e.agentConfig(e.url)
	if mod != nil {
		mod(&cfg)
	}
	if _, err := agent.Enrol(ctx, cfg, tok, vantage, "host-"+vantage); err != nil {
		e.t.Fatal(err)
	}
	a, err := agent.Open(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// newAudit starts a running audit to hang tasks on.
func (e *env) newAudit() int64 {
	e.t.Helper()
	a, err := e.store.CreateAudit(context.Background(), storage.NewAudit{Kind: storage.KindAdHoc, Organisation: "Fjordnett AS",
		StartedAt: e.clock.Now(), ToolVersion: "test", RulesVersion: "test", Config: json.RawMessage(`{}`), Header: &storage.Header{}})
	if err != nil {
		e.t.Fatal(err)
	}
	return a.ID
}

// post sends a raw, already signed request and returns status and body.
func post(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// listeners opens n TCP listeners on loopback that accept and close: targets for TCP probes.
func listeners(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		out = append(out, l.Addr().String())
	}
	return out
}

// count runs a counting query as varde_writer.
func (e *env) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// storedResult reads the one stored result's body and signature.
func (e *env) storedResult(t *testing.T) (body, sig []byte) {
	t.Helper()
	return e.resultOf(t, 0, 0)
}

// resultOf reads the result of (task, attempt); task 0: the only one.
func (e *env) resultOf(t *testing.T, task int64, attempt int) (body, sig []byte) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT body, signature FROM agent_results WHERE $1 = 0 OR (task_id = $1 AND attempt = $2)`,
		task, attempt).Scan(&body, &sig); err != nil {
		t.Fatal(err)
	}
	return body, sig
}
