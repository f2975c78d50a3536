package agent

import (
	"bytes"
	"errors"
	"testing"
)

// The spool keeps one file per (task, attempt), refuses what goes past its bounds rather than
// dropping older results, and gives back exactly what it was given.
func TestSpoolBounded(t *testing.T) {
	t.Parallel()
	sig := bytes.Repeat([]byte{7}, sigSize)
	sp, err := openSpool(t.TempDir(), 1<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.put(1, 1, []byte(`{"a":1}`), sig); err != nil {
		t.Fatal(err)
	}
	if err := sp.put(1, 1, []byte(`{"a":1}`), sig); err != nil {
		t.Fatalf("the same attempt again: %v", err)
	}
	if err := sp.put(2, 1, []byte(`{"b":2}`), sig); err != nil {
		t.Fatal(err)
	}
	if err := sp.put(3, 1, []byte(`{"c":3}`), sig); !errors.Is(err, errSpoolFull) {
		t.Fatalf("a third result in a spool of two: %v", err)
	}
	names, err := sp.list()
	if err != nil || len(names) != 2 {
		t.Fatalf("spool holds %v %v", names, err)
	}
	body, gotSig, err := sp.read(names[0])
	if err != nil || string(body) != `{"a":1}` || !bytes.Equal(gotSig, sig) {
		t.Fatalf("read back %q %x %v", body, gotSig, err)
	}
	sp.remove(names[0])
	if err := sp.put(3, 1, []byte(`{"c":3}`), sig); err != nil {
		t.Fatalf("after delivery there is room: %v", err)
	}
	small, err := openSpool(t.TempDir(), 100, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := small.put(1, 1, bytes.Repeat([]byte("x"), 100), sig); !errors.Is(err, errSpoolFull) {
		t.Fatalf("a result over the byte bound: %v", err)
	}
	if err := sp.put(4, 1, []byte(`{}`), sig[:10]); err == nil {
		t.Fatal("a short signature was spooled")
	}
}
