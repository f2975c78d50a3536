package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp/pgtest"
)

// TestAuditRunRecordsFailedStep: a broken inventory fails the residency step; the audit records the
// failure, keeps the measurements stored before it, still holds its chain, and varde exits non-zero.
func TestAuditRunRecordsFailedStep(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	if _, _, err := runT(t, url, "db", "migrate"); err != nil {
		t.Fatal(err)
	}
	port := loopbackPort(t)
	dir := t.TempDir()
	broken := filepath.Join(dir, "stores.yaml")
	if err := os.WriteFile(broken, []byte("version: 1\nstores:\n  - name: x\n    hots: 10.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`organisation: Testfjord AS
period: 2026-Q3
vantages: [{name: oslo-nix-1, city: Oslo, latitude: 59.91, longitude: 10.75}]
probes: {icmp: false, tcp_count: 3, interval: 5ms}
targets: [{name: local, host: 127.0.0.1, port: %d}]
inventory: stores.yaml
signing: {keys_dir: keys, init: true}
output_dir: out
`, port)
	cfgPath := filepath.Join(dir, "audit.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := runT(t, url, "audit", "run", "--config", cfgPath)
	if err == nil || !strings.Contains(err.Error(), "step residency failed") || !strings.Contains(err.Error(), broken+":4") {
		t.Fatalf("audit run with a broken inventory: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^audit (\d+) partial$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no partial audit in:\n%s", out)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	ctx := context.Background()
	s, err := storage.Open(ctx, storage.Config{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	steps, err := s.Steps(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, st := range steps {
		got[st.Step] = st.Status
	}
	if got["probes"] != "succeeded" || got["residency"] != "failed" || got["guest"] != "skipped" || got["reports"] != "succeeded" {
		t.Errorf("steps: %v", got)
	}
	ms, err := s.Measurements(ctx, id)
	if err != nil || len(ms) != 1 || ms[0].Received != 3 {
		t.Errorf("measurements kept: %+v %v", ms, err)
	}
	if vout, _, err := runT(t, url, "verify", "--audit", m[1]); err != nil || !strings.Contains(vout, "holds") {
		t.Errorf("verify: %q %v", vout, err)
	}
	if reps, err := s.Reports(ctx, id); err != nil || len(reps) != 2 {
		t.Errorf("reports of a partial audit: %v %v", reps, err)
	}
}
