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
