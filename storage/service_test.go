package storage_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/varde/varde/storage"
)

// fakeQueue stands in for River's InsertTx: the job row goes into the same transaction, here a row in a
// table the test makes, so a rolled-back run leaves no job behind.
func fakeQueue(t *testing.T, superURL string) storage.Enqueue {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE test_jobs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, run_id bigint NOT NULL UNIQUE);
		GRANT SELECT, INSERT ON test_jobs TO varde_writer`); err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context, tx pgx.Tx, run storage.AuditRun) (int64, error) {
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO test_jobs (run_id) VALUES ($1) RETURNING id`, run.ID).Scan(&id)
		return id, err
	}
}

func TestConfigVersions(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	c1, err := s.PutConfig(ctx, "quarterly", []byte("organisation: A\n"), "alice", t0)
	if err != nil || c1.Version != 1 || c1.CreatedBy != "alice" {
		t.Fatalf("first upload: %+v %v", c1, err)
	}
	same, err := s.PutConfig(ctx, "quarterly", []byte("organisation: A\n"), "bob", t0.Add(time.Hour))
	if err != nil || same.Version != 1 || same.CreatedBy != "alice" {
		t.Fatalf("unchanged upload: %+v %v, want version 1 as it was", same, err)
	}
	c2, err := s.PutConfig(ctx, "quarterly", []byte("organisation: B\n"), "bob", t0.Add(time.Hour))
	if err != nil || c2.Version != 2 {
		t.Fatalf("changed upload: %+v %v", c2, err)
	}
	if got, err := s.GetConfig(ctx, "quarterly", 0); err != nil || got.Version != 2 || got.Body != "organisation: B\n" {
		t.Errorf("latest: %+v %v", got, err)
	}
	if got, err := s.GetConfig(ctx, "quarterly", 1); err != nil || got.Body != "organisation: A\n" {
		t.Errorf("version 1: %+v %v", got, err)
	}
	if _, err := s.GetConfig(ctx, "quarterly", 3); !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), "version 3") {
		t.Errorf("version 3: %v", err)
	}
	if _, err := s.GetConfig(ctx, "nope", 0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown config: %v", err)
	}
	list, err := s.ListConfigs(ctx)
	if err != nil || len(list) != 1 || list[0].Version != 2 {
		t.Errorf("list: %+v %v", list, err)
	}
	if _, err := s.PutConfig(ctx, "Bad Name", []byte("x"), "a", t0); err == nil {
		t.Error("a config name with spaces was stored")
	}
}

// Concurrent uploads of different bodies get dense, distinct versions.
func TestConfigVersionsConcurrent(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			_, err := s.PutConfig(ctx, "c", []byte{byte('a' + i)}, "x", t0)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if c, err := s.GetConfig(ctx, "c", 0); err != nil || c.Version != 8 {
		t.Errorf("latest after 8 uploads: %+v %v", c, err)
	}
}

func TestScheduleEnqueueDue(t *testing.T) {
	t.Parallel()
	_, s, urls := newStores(t)
	ctx := context.Background()
	enqueue := fakeQueue(t, urls.Super)
	if _, err := s.CreateSchedule(ctx, storage.Schedule{ConfigName: "missing", Spec: "@daily", TimeZone: "UTC", NextRunAt: t0, CreatedAt: t0}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("schedule of a missing config: %v", err)
	}
	if _, err := s.PutConfig(ctx, "daily", []byte("x"), "a", t0); err != nil {
		t.Fatal(err)
	}
	planned := t0.Truncate(time.Hour).Add(time.Hour)
	sc, err := s.CreateSchedule(ctx, storage.Schedule{ConfigName: "daily", Spec: "@hourly", TimeZone: "UTC", Enabled: true, NextRunAt: planned, CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	plan := func(sc storage.Schedule) (storage.Due, error) {
		return storage.Due{Run: storage.NewRun{PlannedAt: sc.NextRunAt, EnqueuedAt: planned}, Next: sc.NextRunAt.Add(time.Hour)}, nil
	}
	// Before its time nothing is due.
	if runs, err := s.EnqueueDue(ctx, planned.Add(-time.Second), plan, enqueue); err != nil || len(runs) != 0 {
		t.Fatalf("early: %v %v", runs, err)
	}
	// Several replicas at once: exactly one run.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []storage.AuditRun
	for range 4 {
		wg.Go(func() {
			runs, err := s.EnqueueDue(ctx, planned, plan, enqueue)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			all = append(all, runs...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(all) != 1 || !all[0].PlannedAt.Equal(planned) || all[0].JobID == nil || all[0].Status != storage.RunQueued || all[0].ConfigVersion != 1 {
		t.Fatalf("runs enqueued by 4 replicas: %+v", all)
	}
	got, err := s.GetSchedule(ctx, sc.ID)
	if err != nil || !got.NextRunAt.Equal(planned.Add(time.Hour)) || got.LastRunID == nil || *got.LastRunID != all[0].ID {
		t.Errorf("schedule after its run: %+v %v", got, err)
	}
	// A schedule moved back to a time it already ran at does not run it again.
	got.NextRunAt, got.UpdatedAt = planned, planned
	if _, err := s.UpdateSchedule(ctx, sc.ID, got); err != nil {
		t.Fatal(err)
	}
	if runs, err := s.EnqueueDue(ctx, planned, plan, enqueue); err != nil || len(runs) != 0 {
		t.Errorf("re-planned time: %v %v", runs, err)
	}
	// A failing enqueue stores no run and leaves the schedule as it was.
	failing := func(context.Context, pgx.Tx, storage.AuditRun) (int64, error) { return 0, errors.New("queue down") }
	if _, err := s.EnqueueDue(ctx, planned.Add(time.Hour), plan, failing); err == nil || !strings.Contains(err.Error(), "queue down") {
		t.Errorf("failing queue: %v", err)
	}
	if got, _ := s.GetSchedule(ctx, sc.ID); !got.NextRunAt.Equal(planned.Add(time.Hour)) {
		t.Errorf("schedule advanced although its run was not enqueued: %v", got.NextRunAt)
	}
	if runs, _, _ := s.ListRuns(ctx, storage.RunFilter{}, 0); len(runs) != 1 {
		t.Errorf("runs after a failed enqueue: %d, want 1", len(runs))
	}
}

func TestRunLifecycleAndPaging(t *testing.T) {
	t.Parallel()
	owner, s, urls := newStores(t)
	ctx := context.Background()
	enqueue := fakeQueue(t, urls.Super)
	if _, err := s.PutConfig(ctx, "adhoc", []byte("x"), "a", t0); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i := range 5 {
		r, err := s.AddRun(ctx, storage.NewRun{ConfigName: "adhoc", PlannedAt: t0, EnqueuedAt: t0.Add(time.Duration(i) * time.Second), RequestedBy: "alice"}, enqueue)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	r, err := s.StartRun(ctx, ids[0], t0)
	if err != nil || r.Status != storage.RunRunning || r.Attempts != 1 {
		t.Fatalf("start: %+v %v", r, err)
	}
	a := newAudit(t, owner)
	if err := s.SetRunAudit(ctx, ids[0], a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRunAudit(ctx, ids[0], a.ID+1); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("linking a second audit: %v", err)
	}
	if err := s.FinishRun(ctx, ids[0], storage.RunSucceeded, t0.Add(time.Minute), ""); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, ids[0], storage.RunFailed, t0.Add(time.Minute), "x"); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("finishing a finished run again: %v", err)
	}
	if _, err := s.StartRun(ctx, ids[0], t0); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("starting a finished run: %v", err)
	}
	if err := s.FinishRun(ctx, 999, storage.RunFailed, t0, ""); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("finishing a missing run: %v", err)
	}
	if _, err := s.GetRun(ctx, 999); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("missing run: %v", err)
	}
	var seen []int64
	var cursor int64
	for {
		page, next, err := s.ListRuns(ctx, storage.RunFilter{ConfigName: "adhoc", Limit: 2}, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			seen = append(seen, r.ID)
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	if len(seen) != 5 || seen[0] != ids[4] || seen[4] != ids[0] {
		t.Errorf("paged runs %v, want %v newest first", seen, ids)
	}
	if page, _, err := s.ListRuns(ctx, storage.RunFilter{Status: storage.RunSucceeded}, 0); err != nil || len(page) != 1 || page[0].ID != ids[0] {
		t.Errorf("filter by status: %+v %v", page, err)
	}
	// The writer cannot remove runs or rewrite a config version.
	conn, err := pgx.Connect(ctx, urls.Writer)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{`DELETE FROM audit_runs`, `UPDATE audit_configs SET body = 'y'`, `DELETE FROM schedules`,
		`UPDATE audit_runs SET status = 'failed' WHERE status = 'succeeded'`, `UPDATE guest_snapshots SET body = 'x'`} {
		if _, err := conn.Exec(ctx, q); err == nil {
			t.Errorf("as the writer, %s was allowed", q)
		}
	}
}

func TestSnapshotsClaimedOnce(t *testing.T) {
	t.Parallel()
	_, s, urls := newStores(t)
	ctx := context.Background()
	enqueue := fakeQueue(t, urls.Super)
	if _, err := s.AddSnapshot(ctx, storage.GuestSnapshot{ConfigName: "q", Body: []byte("x"), UploadedAt: t0}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("snapshot for a missing config: %v", err)
	}
	if _, err := s.PutConfig(ctx, "q", []byte("x"), "a", t0); err != nil {
		t.Fatal(err)
	}
	g, err := s.AddSnapshot(ctx, storage.GuestSnapshot{ConfigName: "q", Body: []byte("tarball"), Host: "db1", UploadedAt: t0, UploadedBy: "ops"})
	if err != nil || g.Size != 7 || len(g.SHA256) != 64 {
		t.Fatalf("add: %+v %v", g, err)
	}
	r1, _ := s.AddRun(ctx, storage.NewRun{ConfigName: "q", PlannedAt: t0, EnqueuedAt: t0}, enqueue)
	r2, _ := s.AddRun(ctx, storage.NewRun{ConfigName: "q", PlannedAt: t0, EnqueuedAt: t0}, enqueue)
	got, err := s.ClaimSnapshots(ctx, r1)
	if err != nil || len(got) != 1 || string(got[0].Body) != "tarball" {
		t.Fatalf("claim: %+v %v", got, err)
	}
	if again, err := s.ClaimSnapshots(ctx, r1); err != nil || len(again) != 1 {
		t.Errorf("a retried run's claim: %+v %v", again, err)
	}
	if other, err := s.ClaimSnapshots(ctx, r2); err != nil || len(other) != 0 {
		t.Errorf("the next run's claim: %+v %v", other, err)
	}
}
