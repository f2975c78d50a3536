package sign

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-pdf/fpdf"
	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"golang.org/x/image/font/gofont/goregular"
	"software.sslmate.com/src/go-pkcs12"
)

// bigPDF is a report-sized input: pages of uncompressed table rows.
func bigPDF(b *testing.B, pages int) []byte {
	b.Helper()
	p := fpdf.New("P", "mm", "A4", "")
	p.SetCompression(false)
	p.AddUTF8FontFromBytes("go", "", goregular.TTF)
	p.SetFont("go", "", 8)
	for i := 0; i < pages; i++ {
		p.AddPage()
		for r := 0; r < 60; r++ {
			p.CellFormat(0, 4, fmt.Sprintf("finding %d.%d  db-%d.example.no  NO  allowed  Art. 45  ok  æøå", i, r, r), "", 1, "", false, 0, "")
		}
	}
	var out bytes.Buffer
	if err := p.Output(&out); err != nil {
		b.Fatal(err)
	}
	return out.Bytes()
}

// BenchmarkSign signs a ~4 MB PDF with varde and, as the peer, with poppler's pdfsig
// (-add-signature, NSS) on the same file and key. pdfsig 22.12 cannot add ETSI.CAdES.detached,
// so the peer writes adbe.pkcs7.detached: the same work (hash the file, one signature). RSA 3072
// keys, because pdfsig 22.12 fails to add ECDSA signatures ("unable update signature").
func BenchmarkSign(b *testing.B) {
	pdf := bigPDF(b, 600)
	cfg := KeysConfig{RSA: true}
	ca, caKey, err := NewCA(cfg)
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewLeaf(ca, caKey, cfg)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	in := filepath.Join(dir, "in.pdf")
	if err := os.WriteFile(in, pdf, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("varde/%.1fMB", float64(len(pdf))/1e6), func(b *testing.B) {
		b.SetBytes(int64(len(pdf)))
		for b.Loop() {
			if err := SignFile(context.Background(), in, filepath.Join(dir, "varde.pdf"), s, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("pdfsig/%.1fMB", float64(len(pdf))/1e6), func(b *testing.B) {
		for _, tool := range []string{"pdfsig", "certutil", "pk12util"} {
			if _, err := exec.LookPath(tool); err != nil {
				b.Skipf("%s not installed", tool)
			}
		}
		nss := b.TempDir()
		p12, err := pkcs12.Modern.Encode(s.Key, s.Cert, s.Chain, "bench")
		if err != nil {
			b.Fatal(err)
		}
		p12Path := filepath.Join(nss, "signer.p12")
		os.WriteFile(p12Path, p12, 0o600)
		for _, args := range [][]string{
			{"certutil", "-N", "-d", "sql:" + nss, "--empty-password"},
			{"pk12util", "-i", p12Path, "-d", "sql:" + nss, "-W", "bench"},
		} {
			if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
				b.Fatalf("%v: %v\n%s", args, err, out)
			}
		}
		// pk12util ignores -n for the key's certificate and names it "CN - O"; find it.
		list, err := exec.Command("certutil", "-L", "-d", "sql:"+nss).CombinedOutput()
		if err != nil {
			b.Fatalf("certutil -L: %v\n%s", err, list)
		}
		nick := ""
		for _, l := range strings.Split(string(list), "\n") {
			if strings.HasSuffix(strings.TrimSpace(l), "u,u,u") {
				nick = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(l), "u,u,u"))
			}
		}
		if nick == "" {
			b.Fatalf("no key certificate in NSS DB:\n%s", list)
		}
		b.SetBytes(int64(len(pdf)))
		for b.Loop() {
			out, err := exec.Command("pdfsig", "-add-signature", "-nssdir", "sql:"+nss, "-nick", nick,
				in, filepath.Join(dir, "pdfsig.pdf")).CombinedOutput()
			if err != nil {
				b.Fatalf("pdfsig: %v\n%s", err, out)
			}
		}
	})
}

// BenchmarkVerify checks the signature of a ~6 MB signed PDF: varde, and as peers pdfsig
// (-nocert, integrity only; varde checks the chain to the CA too) and pdfcpu's api.ValidateSignaturesRaw.
func BenchmarkVerify(b *testing.B) {
	pdf := bigPDF(b, 600)
	ca, caKey, _ := NewCA(KeysConfig{})
	s, _ := NewLeaf(ca, caKey, KeysConfig{})
	signed, err := Sign(context.Background(), pdf, s, Options{})
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "signed.pdf")
	os.WriteFile(path, signed, 0o644)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	b.Run("varde", func(b *testing.B) {
		b.SetBytes(int64(len(signed)))
		for b.Loop() {
			r, err := VerifyFile(context.Background(), path, VerifyConfig{Roots: roots})
			if err != nil || !r.Valid() {
				b.Fatalf("%v %+v", err, r)
			}
		}
	})
	b.Run("pdfsig", func(b *testing.B) {
		if _, err := exec.LookPath("pdfsig"); err != nil {
			b.Skip("pdfsig not installed")
		}
		b.SetBytes(int64(len(signed)))
		for b.Loop() {
			out, err := exec.Command("pdfsig", "-nocert", path).CombinedOutput()
			if err != nil || !bytes.Contains(out, []byte("Signature is Valid.")) {
				b.Fatalf("pdfsig: %v\n%s", err, out)
			}
		}
	})
	b.Run("pdfcpu", func(b *testing.B) {
		if err := model.EnsureDefaultConfigAt(b.TempDir(), false); err != nil {
			b.Fatal(err)
		}
		conf := model.NewDefaultConfiguration()
		conf.Offline = true
		b.SetBytes(int64(len(signed)))
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			res, err := api.ValidateSignaturesRaw(f, true, conf)
			f.Close()
			if err != nil || len(res) != 1 {
				b.Fatalf("pdfcpu: %v %v", err, res)
			}
		}
	})
}
