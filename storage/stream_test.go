package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/varde/varde/storage"
)

// The streaming readers give the same rows as the readers that collect, in the same order.
func TestStreamingReadersMatchCollectingOnes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	a := newAudit(t, s)
	sampleEvidence(t, s, a.ID)
	empty := newAudit(t, s)

	same := func(what string, want, got any) {
		t.Helper()
		w, _ := json.Marshal(want)
		g, _ := json.Marshal(got)
		if string(w) != string(g) {
			t.Errorf("%s:\nstreamed %s\ncollected %s", what, g, w)
		}
	}
	ms, _ := s.Measurements(ctx, a.ID)
	var gotMs []storage.Measurement
	if err := s.EachMeasurement(ctx, a.ID, func(m *storage.Measurement) error { gotMs = append(gotMs, *m); return nil }); err != nil {
		t.Fatal(err)
	}
	same("measurements", ms, gotMs)
	fs, _ := s.Findings(ctx, a.ID)
	var gotFs []storage.Finding
	if err := s.EachFinding(ctx, a.ID, func(f *storage.Finding) error { gotFs = append(gotFs, *f); return nil }); err != nil {
		t.Fatal(err)
	}
	same("findings", fs, gotFs)
	obs, _ := s.Observations(ctx, a.ID)
	var gotObs []storage.Observation
	if err := s.EachObservation(ctx, a.ID, func(o *storage.Observation) error { gotObs = append(gotObs, *o); return nil }); err != nil {
		t.Fatal(err)
	}
	same("observations", obs, gotObs)
	crs, _ := s.CheckResults(ctx, a.ID)
	var gotCrs []storage.CheckResult
	if err := s.EachCheckResult(ctx, a.ID, func(c *storage.CheckResult) error { gotCrs = append(gotCrs, *c); return nil }); err != nil {
		t.Fatal(err)
	}
	same("check results", crs, gotCrs)

	n := 0
	if err := s.EachMeasurement(ctx, empty.ID, func(*storage.Measurement) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("audit without rows: %d rows, %v", n, err)
	}
	if err := s.EachFinding(ctx, 1<<40, func(*storage.Finding) error { return nil }); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("missing audit: %v, want ErrNotFound", err)
	}
	stop := errors.New("stop")
	if err := s.EachMeasurement(ctx, a.ID, func(*storage.Measurement) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("callback error: %v, want it back", err)
	}
}

func TestAuditPageFiltersAndContinues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	var ids []int64
	for range 5 {
		ids = append(ids, newAudit(t, s).ID)
	}
	if err := s.FinishAudit(ctx, ids[1], storage.StatusSucceeded, t0); err != nil {
		t.Fatal(err)
	}
	var got []int64
	before := int64(0)
	for {
		page, more, err := s.AuditPage(ctx, storage.AuditFilter{Limit: 2, BeforeID: before})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page {
			got = append(got, a.ID)
		}
		if !more {
			break
		}
		before = page[len(page)-1].ID
	}
	want := []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("pages gave %v, want %v", got, want)
	}
	page, more, err := s.AuditPage(ctx, storage.AuditFilter{Limit: 10, Status: storage.StatusSucceeded})
	if err != nil || more || len(page) != 1 || page[0].ID != ids[1] {
		t.Fatalf("status filter: %v more=%v %v", page, more, err)
	}
	if _, _, err := s.AuditPage(ctx, storage.AuditFilter{Limit: 0}); err == nil {
		t.Fatal("limit 0: want an error")
	}
}
