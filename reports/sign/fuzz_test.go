package sign

import (
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
	f.Add([]byte("%PDF-1.7\n/ByteRange [0 99999999999 1 1]\n%%EOF\n"))
	f.Add([]byte("/ByteRange [0 10 12 5] /Contents <3082>\n%%EOF"))
	roots := pool(p.Cert, p.Chain[0])
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Verify(b, VerifyConfig{Roots: roots, TSARoots: roots, Now: clock})
		if err == nil && r.Valid() && len(r.Signatures) == 0 {
			t.Fatal("valid without a signature")
		}
	})
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
