package sign

import "github.com/varde/varde"

// Limits for the files signing and verifying read. A report of 10,000 targets is a few MiB; a
// certificate, key or PKCS#12 file is a few KiB, a CA bundle (the system's is about 200 KiB) more.
var (
	// PDFLimit bounds a PDF to sign or verify; the whole file is held in memory.
	PDFLimit     = varde.Limit{What: "a PDF report", Bytes: 256 << 20}
	keyFileLimit = varde.Limit{What: "a key or certificate file", Bytes: 1 << 20}
	caFileLimit  = varde.Limit{What: "a CA certificate file", Bytes: 16 << 20}
	// revocationLimit bounds a CRL or OCSP response file; a large CA's CRL runs to a few MiB.
	revocationLimit = varde.Limit{What: "a CRL or OCSP response", Bytes: 64 << 20}
)
