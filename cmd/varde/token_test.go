package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp/pgtest"
	"github.com/varde/varde/token"
)

func TestTokenCommands(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	if _, _, err := runT(t, url, "db", "migrate"); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runT(t, url, "token", "create", "--name", "first admin", "--scopes", "tokens:admin,audits:read", "--expires", "24h")
	if err != nil {
		t.Fatalf("create: %v %s", err, errOut)
	}
	tok := strings.TrimSpace(out)
	if token.Check(tok) != nil || strings.Contains(errOut, tok) || !strings.Contains(errOut, "shown only now") {
		t.Fatalf("create printed %q and %q", out, errOut)
	}
	s, err := storage.Open(context.Background(), storage.Config{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.TokenByDigest(context.Background(), token.Digest(tok)); err != nil {
		t.Fatalf("the stored digest: %v", err)
	}
	out, _, err = runT(t, url, "token", "list")
	if err != nil || !strings.Contains(out, "first admin") || !strings.Contains(out, "active") || strings.Contains(out, tok) {
		t.Fatalf("list: %q %v", out, err)
	}
	if out, _, err = runT(t, url, "token", "revoke", "1"); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %q %v", out, err)
	}
	if out, _, _ = runT(t, url, "token", "list"); !strings.Contains(out, "revoked") {
		t.Fatalf("list after revoke: %q", out)
	}
	for _, args := range [][]string{
		{"token", "create", "--name", "x", "--scopes", "audits:write"},
		{"token", "create", "--name", "x", "--scopes", "audits:read", "--expires", "-1h"},
		{"token", "revoke", "1"},
		{"token", "revoke", "99"},
		{"token", "revoke", "abc"},
		{"token", "create", "--scopes", "audits:read"},
	} {
		if _, _, err := runT(t, url, args...); err == nil {
			t.Errorf("varde %s: want an error", strings.Join(args, " "))
		}
	}
}

func TestServeRefusesAnOlderSchema(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	s, err := storage.Open(context.Background(), storage.Config{DatabaseURL: url, SkipSchemaCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.MigrateTo(context.Background(), storage.LatestVersion()-1)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = runT(t, url, "serve", "--api-only", "--listen", "127.0.0.1:0")
	if !errors.Is(err, storage.ErrSchemaBehind) || !strings.Contains(err.Error(), "varde db migrate") {
		t.Fatalf("serve on an older schema: %v", err)
	}
}
