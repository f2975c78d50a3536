package token_test

import (
	"bytes"
	"errors"
	"regexp"
	"testing"

	"github.com/varde/varde/token"
)

func TestNewTokensCheckAndDiffer(t *testing.T) {
	t.Parallel()
	form := regexp.MustCompile(`^varde_[0-9A-Za-z]{38}$`)
	seen := map[string]bool{}
	for range 200 {
		tok, err := token.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !form.MatchString(tok) {
			t.Fatalf("token %q does not have the documented form", tok)
		}
		if err := token.Check(tok); err != nil {
			t.Fatalf("Check(%q): %v", tok, err)
		}
		if seen[tok] {
			t.Fatalf("token %q made twice", tok)
		}
		seen[tok] = true
	}
}

func TestCheckRefusesTyposAndOtherStrings(t *testing.T) {
	t.Parallel()
	tok, err := token.New(bytes.NewReader(bytes.Repeat([]byte{7, 200, 61, 3}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	// One character changed in the secret or the checksum: the checksum catches it.
	for _, i := range []int{len(token.Prefix), len(token.Prefix) + 10, token.Len - 1} {
		b := []byte(tok)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		if err := token.Check(string(b)); !errors.Is(err, token.ErrChecksum) {
			t.Errorf("changed at %d: Check = %v, want ErrChecksum", i, err)
		}
	}
	for _, s := range []string{"", "varde_", tok[:len(tok)-1], tok + "x", "ghp_" + tok[6:] + "xx", "varde_" + string(bytes.Repeat([]byte("-"), 38))} {
		if err := token.Check(s); !errors.Is(err, token.ErrFormat) {
			t.Errorf("Check(%q) = %v, want ErrFormat", s, err)
		}
	}
}

func TestNewFailsOnShortRandomness(t *testing.T) {
	t.Parallel()
	if _, err := token.New(bytes.NewReader([]byte{1, 2, 3})); err == nil {
		t.Fatal("New with 3 random bytes: want an error")
	}
}

func TestDigestIsSHA256(t *testing.T) {
	t.Parallel()
	d := token.Digest("varde_x")
	if len(d) != 32 || bytes.Equal(d, token.Digest("varde_y")) {
		t.Fatalf("digest %x", d)
	}
}

func TestParseScopes(t *testing.T) {
	t.Parallel()
	got, err := token.ParseScopes([]string{"audits:read", " tokens:admin"})
	if err != nil || len(got) != 2 || got[1] != token.TokensAdmin {
		t.Fatalf("ParseScopes = %v, %v", got, err)
	}
	for _, bad := range [][]string{nil, {"audits:write"}, {"audits:read", "audits:read"}} {
		if _, err := token.ParseScopes(bad); err == nil {
			t.Errorf("ParseScopes(%q): want an error", bad)
		}
	}
}
