package agentsrv_test

import (
	"context"
	"testing"
	"time"
)

// An agent that only waits for work is heard from: its long polls record when it was last seen (at most
// once a minute), so the console does not call an idle agent lost.
func TestIdleAgentIsSeen(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	a := e.enrol("tromso", nil)
	id := a.Identity().AgentID
	poll := func() {
		rctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		a.Run(rctx)
	}
	seen := func() time.Time {
		ag, err := e.store.AgentByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ag.LastSeen == nil {
			t.Fatal("the agent polled but was never seen")
		}
		return *ag.LastSeen
	}
	before := e.clock.Now()
	poll()
	first := seen()
	if first.Before(before.Add(-time.Second)) {
		t.Fatalf("last seen %v, before the polls began at %v", first, before)
	}
	poll() // within the minute: not written again
	if got := seen(); !got.Equal(first) {
		t.Errorf("last seen moved from %v to %v within a minute", first, got)
	}
	e.clock.Advance(2 * time.Minute)
	poll()
	if got := seen(); got.Sub(first) < 2*time.Minute {
		t.Errorf("last seen %v, want it 2 minutes after %v", got, first)
	}
}
