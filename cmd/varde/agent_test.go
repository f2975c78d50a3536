package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/varde/varde/agentsrv"
	"github.com/varde/varde/agentwire"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp/pgtest"
)

// runEnvT runs varde with the given environment.
func runEnvT(ctx context.Context, env map[string]string, args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	err := runEnv(ctx, args, &out, &errb, func(k string) string { return env[k] })
	return out.String(), errb.String(), err
}

// The admin's token, list and revoke, and an agent's enrol and run, through the command line against a
// real agent server over TLS.
func TestAgentCommands(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	if _, _, err := runT(t, url, "db", "migrate"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := storage.Open(ctx, storage.Config{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := agentsrv.New(agentsrv.Config{Store: st, MaxWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mountAgents(mux, srv)
	ts := httptest.NewTLSServer(mux)
	defer ts.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	env := map[string]string{"DATABASE_URL": url}
	if _, _, err := runEnvT(ctx, env, "agent", "token"); err == nil || !errors.As(err, new(usageError)) {
		t.Errorf("token without --vantage: %v", err)
	}
	tok, _, err := runEnvT(ctx, env, "agent", "token", "--vantage", "bergen", "--ttl", "1h")
	if err != nil || !strings.HasPrefix(tok, agentsrv.TokenPrefix) {
		t.Fatalf("token: %q %v", tok, err)
	}
	agentEnv := map[string]string{"VARDE_AGENT_SERVER": ts.URL + agentwire.Prefix, "VARDE_AGENT_CA": ca}
	adir := filepath.Join(dir, "agent")
	if _, _, err := runEnvT(ctx, agentEnv, "agent", "enrol", "--vantage", "bergen", "--dir", adir); err == nil ||
		!strings.Contains(err.Error(), "VARDE_AGENT_TOKEN") {
		t.Errorf("enrol without a token: %v", err)
	}
	agentEnv["VARDE_AGENT_TOKEN"] = strings.TrimSpace(tok)
	out, _, err := runEnvT(ctx, agentEnv, "agent", "enrol", "--vantage", "bergen", "--dir", adir)
	if err != nil || !strings.Contains(out, "enrolled agent 1 for vantage bergen") {
		t.Fatalf("enrol: %q %v", out, err)
	}
	if _, _, err := runEnvT(ctx, agentEnv, "agent", "enrol", "--vantage", "bergen", "--dir", filepath.Join(dir, "again")); err == nil ||
		!strings.Contains(err.Error(), "already used") {
		t.Errorf("second enrolment with the token: %v", err)
	}
	out, _, err = runEnvT(ctx, env, "agent", "list")
	if err != nil || !strings.Contains(out, "bergen") || !strings.Contains(out, "REVOKED") {
		t.Errorf("list: %q %v", out, err)
	}
	// The agent runs until stopped; stopped by its context it exits cleanly.
	rctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	if _, _, err := runEnvT(rctx, agentEnv, "agent", "run", "--dir", adir); err != nil {
		t.Errorf("run, stopped: %v", err)
	}
	cancel()
	if out, _, err := runEnvT(ctx, env, "agent", "revoke", "1"); err != nil || !strings.Contains(out, "agent 1 revoked") {
		t.Fatalf("revoke: %q %v", out, err)
	}
	if _, _, err := runEnvT(ctx, env, "agent", "revoke", "1"); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoke twice: %v", err)
	}
	if _, _, err := runEnvT(ctx, agentEnv, "agent", "run", "--dir", adir); err == nil || !strings.Contains(err.Error(), "refuses this agent") {
		t.Errorf("run after revocation: %v", err)
	}
	if out, _, err := runEnvT(ctx, env, "agent", "monitor", "--vantage", "bergen", "--every", "5m", "192.0.2.1:443"); err != nil ||
		!strings.Contains(out, "1 targets every 5m0s") {
		t.Errorf("monitor: %q %v", out, err)
	}
	if _, _, err := runEnvT(ctx, env, "agent", "monitor", "--vantage", "bergen"); err == nil || !errors.As(err, new(usageError)) {
		t.Errorf("monitor without targets: %v", err)
	}
	if _, _, err := runEnvT(ctx, env, "agent", "revoke", "x"); err == nil || !errors.As(err, new(usageError)) {
		t.Errorf("revoke x: %v", err)
	}
}
