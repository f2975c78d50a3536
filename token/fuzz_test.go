package token_test

import (
	"testing"

	"github.com/varde/varde/token"
)

// FuzzCheck: Check reads the Authorization header of every request, before any authentication. It must
// never panic, and accept nothing but a token's exact form with a matching checksum.
func FuzzCheck(f *testing.F) {
	tok, err := token.New(nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{tok, "", "varde_", tok[:len(tok)-1], tok + "0", "ghp_0123456789", "varde_\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if token.Check(s) != nil {
			return
		}
		if len(s) != token.Len || s[:len(token.Prefix)] != token.Prefix {
			t.Fatalf("Check accepted %q", s)
		}
		if _, err := token.ParseScopes([]string{s}); err == nil {
			t.Fatalf("a token is not a scope: %q", s)
		}
	})
}
