package sign

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// FuzzVerify feeds Verify a signed report from the package's own helpers and variants of it with the
// bytes around /ByteRange and /Contents changed (the change that once panicked). Verify must never
// panic, every error must say something, and a Result without an error must be internally consistent.
func FuzzVerify(f *testing.F) {
	k := newKeys(f, KeysConfig{})
	signed, err := Sign(context.Background(), testPDF(f), k.signer, Options{Now: clock})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	br := bytes.LastIndex(signed, []byte("/ByteRange"))
	contents := bytes.LastIndex(signed, []byte("/Contents <"))
	if br < 0 || contents < 0 {
		f.Fatal("signed test PDF has no /ByteRange or /Contents")
	}
	for _, at := range []int{br + 12, br + 20, br + 40, contents + 10, contents + 11, len(signed) - 10} {
		for _, b := range []byte{'0', '9', ' ', ']', '>', 'x'} {
			m := bytes.Clone(signed)
			m[at] = b
			f.Add(m)
		}
	}
	// The padding after /ByteRange [...] turned into "endobj": the dictionary then ends before the
	// /Contents gap (this panicked with slice bounds out of range).
	end := br + bytes.IndexByte(signed[br:], ']')
	m := bytes.Clone(signed)
	copy(m[end+2:], "endobj")
	f.Add(m)
	// The gap moved in front of the /ByteRange, and a /ByteRange pointing at itself.
	f.Add(append(bytes.Clone(signed[:br]), []byte("/ByteRange [0 1 2 3] <>")...))
	f.Add([]byte("%PDF-1.7\n1 0 obj <</ByteRange [0 30 40 0] /Contents <00>>> endobj\n%%EOF\n"))
	f.Add([]byte("/ByteRange [0 1 3 0]<>"))

	f.Fuzz(func(t *testing.T, pdf []byte) {
		r, err := Verify(pdf, k.roots)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			if !errors.Is(err, ErrNoSignature) && r.Valid() && r.FileLength != int64(len(pdf)) {
				t.Fatalf("FileLength %d for %d bytes", r.FileLength, len(pdf))
			}
			return
		}
		if r.Valid() && (!r.DigestValid || !r.SignatureValid || !r.CoversWholeFile || !r.ChainTrusted) {
			t.Fatalf("valid without digest, signature, whole-file cover and chain: %+v", r)
		}
		if r.SignedLength > r.FileLength || r.SignedLength <= 0 {
			t.Fatalf("signed length %d of a %d-byte file", r.SignedLength, r.FileLength)
		}
		for _, e := range r.Errors {
			if e == "" {
				t.Fatal("empty entry in Errors")
			}
		}
	})
}
