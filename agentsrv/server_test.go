package agentsrv

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/varde/varde/agentwire"
)

// TestTaskJSON: a lease's task, with the stored spec spliced in, reads as the agentwire.Task it stands for.
func TestTaskJSON(t *testing.T) {
	t.Parallel()
	task := agentwire.Task{TaskID: 3, AuditID: 4, Vantage: "bergen-bix", Attempt: 2, LeaseTTLMS: 30000,
		Deadline: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), LeaseExpires: time.Date(2026, 3, 1, 11, 0, 30, 0, time.UTC)}
	spec := agentwire.Spec{Targets: []agentwire.Target{{Name: "db", Host: "198.18.0.1", Port: 5432}}, ICMP: 5, TCP: 3, IntervalNS: 1e6, TimeoutNS: 1e9}
	stored := []byte(`{"targets": [{"host": "198.18.0.1", "name": "db", "port": 5432}], "tcp_count": 3, "icmp_count": 5, "timeout_ns": 1000000000, "interval_ns": 1000000}`)
	b, err := taskJSON(task, stored)
	if err != nil {
		t.Fatal(err)
	}
	var got agentwire.Task
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	task.Spec = spec
	if !reflect.DeepEqual(got, task) {
		t.Errorf("%s:\n got %+v\nwant %+v", b, got, task)
	}
	for _, bad := range []string{``, `[]`, `null`} {
		if _, err := taskJSON(task, []byte(bad)); err == nil {
			t.Errorf("spec %q accepted", bad)
		}
	}
}
