package job

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/varde/varde/evidencelog"
	"github.com/varde/varde/storage"
)

// Several processes sealing and publishing at once (service replicas, a report generate) end with one
// seal per audit and checkpoints that all extend each other.
func TestConcurrentSealsAgree(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	keyPath, _, err := evidencelog.GenerateKey(filepath.Join(dir, "keys"), "varde.test/log")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for range 3 {
		a, err := s.CreateAudit(ctx, storage.NewAudit{Kind: storage.KindAdHoc, Organisation: "Fjordnett AS", StartedAt: clock(), ToolVersion: "test", Header: &storage.Header{}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.FinishAudit(ctx, a.ID, storage.StatusSucceeded, clock()); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	var wg sync.WaitGroup
	seals := make([][]storage.LogLeaf, 4)
	errs := make([]error, 4)
	for w := range 4 {
		wg.Go(func() {
			lg, err := OpenLog(s, keyPath, filepath.Join(dir, "checkpoints"))
			if err != nil {
				errs[w] = err
				return
			}
			for _, id := range ids {
				seal, _, err := lg.Seal(ctx, id, clock())
				if err != nil {
					errs[w] = err
					return
				}
				seals[w] = append(seals[w], seal)
			}
		})
	}
	wg.Wait()
	for w := range 4 {
		if errs[w] != nil {
			t.Fatalf("worker %d: %v", w, errs[w])
		}
		for i := range ids {
			if seals[w][i].Idx != seals[0][i].Idx {
				t.Errorf("worker %d sees audit %d sealed at %d, worker 0 at %d", w, ids[i], seals[w][i].Idx, seals[0][i].Idx)
			}
		}
	}
	lg, err := OpenLog(s, keyPath, filepath.Join(dir, "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := lg.VerifyAudit(ctx, id); err != nil {
			t.Errorf("audit %d: %v", id, err)
		}
	}
}
