package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp/pgtest"
)

// TestStoreFlag stores probe, residency and guest results as evidence and verifies each audit's chain.
func TestStoreFlag(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	if _, _, err := runT(t, url, "db", "migrate"); err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(loopbackPort(t))
	auditRe := regexp.MustCompile(`stored as audit (\d+)`)
	ctx := context.Background()
	s, err := storage.Open(ctx, storage.Config{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	cases := []struct {
		name  string
		args  []string
		check func(id int64)
	}{
		{"probe", []string{"probe", "--tcp", port, "--count", "3", "--interval", "5ms", "--store", "127.0.0.1"}, func(id int64) {
			ms, err := s.Measurements(ctx, id)
			if err != nil || len(ms) != 1 || ms[0].ProbeKind != "tcp" || ms[0].Received != 3 || len(ms[0].Samples) != 3 {
				t.Errorf("probe measurements: %+v %v", ms, err)
			}
		}},
		{"residency", []string{"residency", "--inventory", sampleInventory, "--date", "2025-09-30", "--store"}, func(id int64) {
			fs, err := s.Findings(ctx, id)
			obs, err2 := s.Observations(ctx, id)
			if err != nil || err2 != nil || len(fs) == 0 || len(obs) == 0 {
				t.Errorf("residency: %d findings, %d observations, %v %v", len(fs), len(obs), err, err2)
			}
			a, _ := s.GetAudit(ctx, id)
			if !strings.HasPrefix(a.RulesVersion, "residency-rules/") {
				t.Errorf("rules version %q not recorded", a.RulesVersion)
			}
		}},
		{"guest", []string{"guest", "check", "--root", "../../guest/testdata/fixtures/kvm-modern", "--no-io", "--store"}, func(id int64) {
			cr, err := s.CheckResults(ctx, id)
			if err != nil || len(cr) == 0 {
				t.Errorf("guest: %d check results, %v", len(cr), err)
			}
		}},
	}
	for _, tc := range cases {
		_, errOut, err := runT(t, url, tc.args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.name, err, errOut)
		}
		m := auditRe.FindStringSubmatch(errOut)
		if m == nil {
			t.Fatalf("%s: no audit ID in %q", tc.name, errOut)
		}
		id, _ := strconv.ParseInt(m[1], 10, 64)
		tc.check(id)
		if out, _, err := runT(t, url, "verify", "--audit", m[1]); err != nil || !strings.Contains(out, "holds") {
			t.Errorf("%s: verify: %q %v", tc.name, out, err)
		}
		if a, _ := s.GetAudit(ctx, id); a.Status != storage.StatusSucceeded || a.Kind != storage.KindAdHoc {
			t.Errorf("%s: audit %+v", tc.name, a)
		}
	}
	// Appending to a finished audit is refused with a clear error and stores nothing.
	_, _, err = runT(t, url, "probe", "--tcp", port, "--count", "1", "--store", "--audit", "1", "127.0.0.1")
	if err == nil || !strings.Contains(err.Error(), "audit 1 is succeeded") {
		t.Errorf("append to a finished audit: %v", err)
	}
}
