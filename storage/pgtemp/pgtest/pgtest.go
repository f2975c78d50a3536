// Package pgtest gives each test binary one throwaway PostgreSQL cluster (pgtemp) and each test a fresh
// database in it. It imports testing, so only tests may import it: the varde binary must not carry it.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/varde/varde/storage/pgtemp"
)

// shared is the one cluster of a test binary, started by Main.
var (
	shared   *pgtemp.Cluster
	sharedMu sync.Mutex
	dbSeq    atomic.Int64
)

// Main starts one cluster for the test binary, runs the tests and stops the cluster. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M) int {
	ctx := context.Background()
	c, err := pgtemp.Start(ctx, pgtemp.Config{NotDurable: true}) // test data: speed over durability
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sharedMu.Lock()
	shared = c
	sharedMu.Unlock()
	code := m.Run()
	if err := c.Stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return code
}

// Database creates a fresh empty database in the test binary's cluster and returns the superuser's URL
// for it. It is dropped when the test ends.
func Database(t testing.TB) string {
	t.Helper()
	return DatabaseRoles(t).Super
}

// URLs reach one test database as each of the cluster's roles.
type URLs struct {
	Super  string // the cluster's superuser, postgres: the attacker of the tamper tests
	Owner  string // pgtemp.OwnerRole, owner of the database: runs migrations
	Writer string // pgtemp.WriterRole: what varde itself connects as
}

// DatabaseRoles creates a fresh empty database owned by pgtemp.OwnerRole and returns its URLs for each
// role. It is dropped when the test ends.
func DatabaseRoles(t testing.TB) URLs {
	t.Helper()
	sharedMu.Lock()
	c := shared
	sharedMu.Unlock()
	if c == nil {
		t.Fatal("pgtest.Database: no cluster; call pgtest.Main from TestMain")
	}
	name := fmt.Sprintf("t%d_%s", dbSeq.Add(1), sanitize(t.Name()))
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" OWNER "+pgx.Identifier{pgtemp.OwnerRole}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return URLs{Super: c.URL(name), Owner: c.URLAs(pgtemp.OwnerRole, name), Writer: c.URLAs(pgtemp.WriterRole, name)}
}

func sanitize(s string) string {
	s = strings.ToLower(s)
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 40; i++ {
		ch := s[i]
		if (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') {
			b = append(b, ch)
		} else {
			b = append(b, '_')
		}
	}
	return string(b)
}

// LoadSQL runs the SQL script at path (for example a pg_dump of data) in the database at url, on a
// connection of its own, so that the script's session settings end with it.
func LoadSQL(t testing.TB, url, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	// Without arguments Exec uses the simple protocol, which runs a script of many statements.
	if _, err := conn.Exec(ctx, string(b)); err != nil {
		t.Fatalf("pgtest: load %s: %v", path, err)
	}
}
