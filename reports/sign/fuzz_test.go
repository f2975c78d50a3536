package sign

import (
	"bytes"
	"context"
	"testing"
)

// FuzzVerify feeds Verify signed reports with bytes changed, cut and added: it must report, never
// panic, whatever the /ByteRange, xref, DSS or CMS says.
func FuzzVerify(f *testing.F) {
	p := newFuzzPKI(f)
	pdf := testPDF(f)
	signed, err := Sign(context.Background(), pdf, p, Options{Now: clock})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add(signed[:len(signed)/2])
	twice, err := Sign(context.Background(), signed, p, Options{Now: clock})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(twice)
	// The bytes around /ByteRange and /Contents changed (a change there once panicked with slice bounds
	// out of range), the gap moved in front of the /ByteRange, and a /ByteRange pointing at itself.
	br := bytes.LastIndex(signed, []byte("/ByteRange"))
	contents := bytes.LastIndex(signed, []byte("/Contents <"))
	if br < 0 || contents < 0 {
		f.Fatal("signed test PDF has no /ByteRange or /Contents")
	}
	for _, at := range []int{br + 12, br + 20, br + 40, contents + 10, contents + 11, len(signed) - 10} {
		for _, c := range []byte{'0', '9', ' ', ']', '>', 'x'} {
			m := bytes.Clone(signed)
			m[at] = c
			f.Add(m)
		}
	}
	end := br + bytes.IndexByte(signed[br:], ']')
	m := bytes.Clone(signed)
	copy(m[end+2:], "endobj")
	f.Add(m)
	f.Add(append(bytes.Clone(signed[:br]), []byte("/ByteRange [0 1 2 3] <>")...))
	f.Add([]byte("%PDF-1.7\n1 0 obj <</ByteRange [0 30 40 0] /Contents <00>>> endobj\n%%EOF\n"))
	f.Add([]byte("%PDF-1.7\n/ByteRange [0 99999999999 1 1]\n%%EOF\n"))
	f.Add([]byte("/ByteRange [0 10 12 5] /Contents <3082>\n%%EOF"))
	roots := pool(p.Cert, p.Chain[0])
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Verify(b, VerifyConfig{Roots: roots, TSARoots: roots, Now: clock})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		checkReport(t, r)
	})
}

// checkReport holds what any report must: a valid one has signatures, each with a good digest and
// signature, covering no more than the file; no problem is an empty string.
func checkReport(t *testing.T, r *Report) {
	t.Helper()
	if r.Valid() && len(r.Signatures) == 0 {
		t.Fatal("valid without a signature")
	}
	for _, p := range r.Problems {
		if p == "" {
			t.Fatal("empty problem")
		}
	}
	for _, s := range r.Signatures {
		if s.SignedLength > r.FileLength || s.SignedLength < 0 {
			t.Fatalf("signed length %d of a %d-byte file", s.SignedLength, r.FileLength)
		}
		if s.Status == StatusValid && (!s.DigestValid || !s.SignatureValid) {
			t.Fatalf("valid signature without a valid digest and signature: %+v", s)
		}
		for _, p := range s.Problems {
			if p == "" {
				t.Fatal("empty problem")
			}
		}
	}
}

func newFuzzPKI(f *testing.F) *Signer {
	ca, key, err := NewCA(KeysConfig{Now: clock})
	if err != nil {
		f.Fatal(err)
	}
	s, err := NewLeaf(ca, key, KeysConfig{Now: clock})
	if err != nil {
		f.Fatal(err)
	}
	return s
}
