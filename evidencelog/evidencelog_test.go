package evidencelog_test

import (
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/varde/varde/evidencelog"
)

// The verifier LoadKey derives from the private key is the one GenerateKey wrote, for many keys (their
// base64 often holds '+', which the key text also uses as its separator).
func TestLoadKeyDerivesTheVerifier(t *testing.T) {
	t.Parallel()
	for i := range 40 {
		dir := t.TempDir()
		keyPath, pubPath, err := evidencelog.GenerateKey(dir, "varde.test/log")
		if err != nil {
			t.Fatal(err)
		}
		s, v, vkey, err := evidencelog.LoadKey(keyPath)
		if err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
		_, want, err := evidencelog.ReadVerifierKey(pubPath)
		if err != nil || vkey != want {
			t.Fatalf("key %d: derived %q, wrote %q (%v)", i, vkey, want, err)
		}
		msg, err := note.Sign(&note.Note{Text: "x\n"}, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
}

// FuzzOpen: a hostile checkpoint file gives an error, never a panic, and never parses unsigned.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	keyPath, _, err := evidencelog.GenerateKey(dir, "varde.test/log")
	if err != nil {
		f.Fatal(err)
	}
	s, v, _, err := evidencelog.LoadKey(keyPath)
	if err != nil {
		f.Fatal(err)
	}
	tree, err := evidencelog.Build([][]byte{[]byte("a"), []byte("b"), []byte("c")})
	if err != nil {
		f.Fatal(err)
	}
	c, err := evidencelog.Sign(tree, 3, s)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c.Signed)
	f.Add([]byte("varde.test/log\n3\nAAAA\n\n— varde.test/log AAAA\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := evidencelog.Open(b, v)
		if err == nil && (got.Origin != "varde.test/log" || got.Size < 0) {
			t.Fatalf("accepted %q as %+v", b, got)
		}
	})
}
