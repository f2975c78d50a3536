package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/varde/varde/migrations"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// runT runs varde with DATABASE_URL set to url and returns stdout, stderr and the error.
func runT(t *testing.T, url string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string {
		if k == "DATABASE_URL" {
			return url
		}
		return ""
	}
	err := runEnv(context.Background(), args, &out, &errb, getenv)
	return out.String(), errb.String(), err
}

func TestDBMigrateTwiceAndStatus(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	files, err := fs.Glob(migrations.FS, "*.up.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %v %v", files, err)
	}
	latest := len(files)
	out, _, err := runT(t, url, "db", "migrate")
	if err != nil || !strings.Contains(out, fmt.Sprintf("schema migrated from version 0 to %d", latest)) {
		t.Fatalf("first migrate: %q %v", out, err)
	}
	out, _, err = runT(t, url, "db", "migrate")
	if err != nil || !strings.Contains(out, "nothing applied") {
		t.Fatalf("second migrate: %q %v", out, err)
	}
	out, _, err = runT(t, url, "db", "status")
	if err != nil || !strings.Contains(out, fmt.Sprintf("schema version %d", latest)) || !strings.Contains(out, "job queue (River) schema version") {
		t.Fatalf("status: %q %v", out, err)
	}
}

func TestVerifyCommand(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	if _, _, err := runT(t, url, "db", "migrate"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := storage.Open(ctx, storage.Config{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := s.CreateAudit(ctx, storage.NewAudit{Kind: storage.KindAdHoc, ToolVersion: "test", Header: &storage.Header{}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	fs := []storage.Finding{
		{Subject: "crm", RuleID: "r1", Severity: "info", Verdict: "in_eea", CreatedAt: now, Evidence: json.RawMessage(`{"c":"NO"}`)},
		{Subject: "bucket", RuleID: "r1", Severity: "high", Verdict: "transfer_mechanism_required", CreatedAt: now},
	}
	if err := s.AppendFindings(ctx, a.ID, fs); err != nil {
		t.Fatal(err)
	}
	id := itoa(a.ID)
	out, _, err := runT(t, url, "verify", "--audit", id)
	if err != nil || !strings.Contains(out, "chain of 3 rows holds") {
		t.Fatalf("verify: %q %v", out, err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `ALTER TABLE findings DISABLE TRIGGER USER;
		UPDATE findings SET verdict = 'in_eea' WHERE subject = 'bucket';
		ALTER TABLE findings ENABLE TRIGGER USER`); err != nil {
		t.Fatal(err)
	}
	_, _, err = runT(t, url, "verify", "--audit", id)
	want := "findings row " + itoa(fs[1].ID) + " (seq 2)"
	if err == nil || !strings.Contains(err.Error(), want) || exitCode(err, devNull(t)) == 0 {
		t.Fatalf("verify after tamper: %v, want an error naming %q", err, want)
	}
}

func TestBadInputIsOneLine(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	cases := []struct {
		name, url string
		args      []string
		want      string
	}{
		{"unparsable URL", "postgres://%zz", []string{"db", "status"}, "database URL"},
		{"refused", "postgres://x@127.0.0.1:1/y?connect_timeout=2", []string{"db", "status"}, "cannot connect"},
		{"no URL", "", []string{"verify", "--audit", "1"}, "DATABASE_URL"},
		{"unmigrated", url, []string{"verify", "--audit", "1"}, "run `varde db migrate`"},
		{"no audit flag", url, []string{"verify"}, "--audit"},
		{"unknown command", url, []string{"frobnicate"}, "unknown command"},
		// Hostile input (issue 12): refused on one line naming the input and what is wrong, before any
		// evidence is stored.
		{"bad audit ID", url, []string{"verify", "--audit", "abc"}, `--audit "abc": want a whole number`},
		{"inventory device", url, []string{"residency", "--inventory", "/dev/zero"}, "/dev/zero: not a regular file"},
		{"geoip device", url, []string{"residency", "--inventory", "../../audit/residency/testdata/sample-inventory.yaml", "--geoip-db", "/dev/zero"},
			"geoip database /dev/zero: not a regular file"},
		{"config device", url, []string{"audit", "run", "--config", "/dev/zero"}, "audit config: /dev/zero: not a regular file"},
		{"snapshot device", url, []string{"guest", "check", "--snapshot", "/dev/zero"}, "snapshot /dev/zero: not a regular file"},
		{"pdf device", url, []string{"report", "verify", "/dev/zero"}, "/dev/zero: not a regular file"},
		{"probe count", url, []string{"probe", "--count", "2000000000", "127.0.0.1"}, "over the limit of 86400"},
		{"probe interval 0", url, []string{"probe", "--interval", "0", "127.0.0.1"}, "--interval 0s: must be positive"},
		{"dotted quad", url, []string{"probe", "300.1.1.1"}, "not a valid IP address"},
	}
	for _, tc := range cases {
		_, _, err := runT(t, tc.url, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
			continue
		}
		var buf bytes.Buffer
		if code := exitCodeTo(err, &buf); code == 0 || strings.Count(buf.String(), "\n") != 1 {
			t.Errorf("%s: exit %d, message %q: want non-zero and one line", tc.name, code, buf.String())
		}
	}
	// Missing audit and newer schema.
	if _, _, err := runT(t, url, "db", "migrate"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runT(t, url, "verify", "--audit", "777"); err == nil || !strings.Contains(err.Error(), "audit 777: not found") {
		t.Errorf("missing audit: %v", err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE schema_version SET version = $1`, storage.LatestVersion()+1); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"verify", "--audit", "1"}, {"db", "migrate"}, {"db", "status"}} {
		if _, _, err := runT(t, url, args...); err == nil || !strings.Contains(err.Error(), "upgrade varde") {
			t.Errorf("%v on a newer schema: %v", args, err)
		}
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func devNull(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// db stop on a directory without a cluster must say so and leave nothing behind: it used to run initdb
// and start a server in order to stop it.
func TestDBStopDoesNotStartACluster(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, _, err := runT(t, "", "db", "stop", "--dir", dir)
	if err != nil || !strings.Contains(out, "no cluster running in "+dir) {
		t.Fatalf("db stop: %q %v", out, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("db stop left %d entries in %s (it initialised a cluster)", len(entries), dir)
	}
}
