package sign

import (
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"
)

// dssData is the validation data of a Document Security Store (ISO 32000-2 §12.8.4.3, PAdES
// B-LT): certificates, CRLs and OCSP responses.
type dssData struct {
	certs []*x509.Certificate
	crls  []*x509.RevocationList
	ocsps [][]byte
	// refs are the objects the DSS (and its VRI dictionaries) refer to.
	refs map[int]bool
}

type ocspResult struct {
	good, revoked bool
	revokedAt     time.Time
}

func parseOCSP(der []byte, cert, issuer *x509.Certificate) (ocspResult, error) {
	resp, err := ocsp.ParseResponseForCert(der, cert, issuer)
	if err != nil {
		return ocspResult{}, err
	}
	switch resp.Status {
	case ocsp.Good:
		return ocspResult{good: true}, nil
	case ocsp.Revoked:
		return ocspResult{revoked: true, revokedAt: resp.RevokedAt}, nil
	}
	return ocspResult{}, errors.New("OCSP status unknown")
}

// readDSS reads the DSS dictionary object num of f.
func readDSS(f *pdfFile, num int) (*dssData, error) {
	entries, _, isStream, err := f.streamObject(num)
	if err != nil {
		return nil, err
	}
	if isStream {
		return nil, fmt.Errorf("DSS object %d is a stream", num)
	}
	d := &dssData{refs: map[int]bool{num: true}}
	for _, e := range entries {
		for _, r := range refs(e.value) {
			d.refs[r.num] = true
		}
	}
	// VRI dictionaries point at the same streams; their references count as the DSS's.
	if v, ok := dictGet(entries, "VRI"); ok {
		for _, r := range refs(v) {
			ve, _, _, err := f.streamObject(r.num)
			if err != nil {
				continue
			}
			for _, e := range ve {
				for _, rr := range refs(e.value) {
					d.refs[rr.num] = true
				}
			}
		}
	}
	read := func(key string, use func(i int, data []byte) error) error {
		v, ok := dictGet(entries, key)
		if !ok {
			return nil
		}
		for i, r := range refs(v) {
			_, data, isStream, err := f.streamObject(r.num)
			if err != nil {
				return fmt.Errorf("DSS /%s entry %d: %w", key, i+1, err)
			}
			if !isStream {
				return fmt.Errorf("DSS /%s entry %d is not a stream", key, i+1)
			}
			if err := use(i, data); err != nil {
				return fmt.Errorf("DSS /%s entry %d: %w", key, i+1, err)
			}
		}
		return nil
	}
	if err := read("Certs", func(_ int, b []byte) error {
		c, err := x509.ParseCertificate(b)
		d.certs = append(d.certs, c)
		return err
	}); err != nil {
		return nil, err
	}
	if err := read("CRLs", func(_ int, b []byte) error {
		c, err := x509.ParseRevocationList(b)
		d.crls = append(d.crls, c)
		return err
	}); err != nil {
		return nil, err
	}
	if err := read("OCSPs", func(_ int, b []byte) error {
		if _, err := ocsp.ParseResponse(b, nil); err != nil {
			return err
		}
		d.ocsps = append(d.ocsps, b)
		return nil
	}); err != nil {
		return nil, err
	}
	return d, nil
}

// checkRevision compares the revision ending at end with the one ending at prevEnd. It accepts
// only what B-LT and B-LTA updates and further signatures write: new signature and document
// time-stamp fields, a new or replaced DSS with its streams, the catalog gaining /DSS or form
// fields, and page 1 gaining widget annotations. It returns what the revision adds and the DSS
// it holds, if it wrote one.
func checkRevision(pdf []byte, prevEnd, end int) (string, *dssData, error) {
	fNew, err := parsePDF(pdf[:end])
	if err != nil {
		return "", nil, err
	}
	fOld, err := parsePDF(pdf[:prevEnd])
	if err != nil {
		return "", nil, fmt.Errorf("revision before: %w", err)
	}
	if len(fNew.freed) > 0 {
		return "", nil, fmt.Errorf("frees objects %v", fNew.freed)
	}
	if fNew.root != fOld.root {
		return "", nil, errors.New("replaces the document catalog")
	}
	catOld, err := fOld.object(fOld.root)
	if err != nil {
		return "", nil, err
	}
	catNew, err := fNew.object(fNew.root)
	if err != nil {
		return "", nil, err
	}
	oldEntries, err1 := parseDict(catOld)
	newEntries, err2 := parseDict(catNew)
	if err := errors.Join(err1, err2); err != nil {
		return "", nil, fmt.Errorf("catalog: %w", err)
	}
	var dss *dssData
	if v, ok := dictGet(newEntries, "DSS"); ok {
		rs := refs(v)
		if len(rs) != 1 {
			return "", nil, errors.New("catalog /DSS is not an indirect reference")
		}
		if _, changed := fNew.latest[rs[0].num]; changed || !bytesEqualOpt(dictGet(oldEntries, "DSS"))(v) {
			if dss, err = readDSS(fNew, rs[0].num); err != nil {
				return "", nil, err
			}
		}
	}
	var oldDSS int = -1
	if v, ok := dictGet(oldEntries, "DSS"); ok {
		if rs := refs(v); len(rs) == 1 {
			oldDSS = rs[0].num
		}
	}
	var adds []string
	for _, num := range slices.Sorted(maps.Keys(fNew.latest)) {
		entries, _, isStream, err := fNew.streamObject(num)
		if err != nil {
			return "", nil, err
		}
		if _, existed := fOld.offsets[num]; existed {
			switch {
			case num == fNew.root.num:
				if !sameDictExcept(oldEntries, newEntries, "DSS", "AcroForm", "Extensions") ||
					!keepsRefs(oldEntries, newEntries, "AcroForm") {
					return "", nil, errors.New("changes the document catalog beyond /DSS and form fields")
				}
			case num == oldDSS:
			default:
				old, _, _, err := fOld.streamObject(num)
				if err != nil || !nameIs(old, "Type", "Page") || !sameDictExcept(old, entries, "Annots") || !keepsRefs(old, entries, "Annots") {
					return "", nil, fmt.Errorf("changes object %d, which is neither the catalog, the DSS nor a page gaining an annotation", num)
				}
			}
			continue
		}
		switch {
		case dss != nil && dss.refs[num]:
			if num == fNew.root.num {
				continue
			}
		case isStream:
			return "", nil, fmt.Errorf("adds stream object %d, which the DSS does not refer to", num)
		case nameIs(entries, "Type", "Sig"):
			adds = append(adds, "signature")
		case nameIs(entries, "Type", "DocTimeStamp"):
			adds = append(adds, "document time-stamp")
		case nameIs(entries, "Subtype", "Widget") && nameIs(entries, "FT", "Sig"):
			if _, ap := dictGet(entries, "AP"); ap {
				return "", nil, fmt.Errorf("adds signature widget %d with an appearance stream", num)
			}
		default:
			return "", nil, fmt.Errorf("adds object %d, which is neither a signature, a time-stamp nor DSS data", num)
		}
	}
	if dss != nil {
		adds = append([]string{"DSS"}, adds...)
	}
	return strings.Join(adds, ", "), dss, nil
}

func bytesEqualOpt(a []byte, ok bool) func([]byte) bool {
	return func(b []byte) bool { return ok && string(a) == string(b) }
}

// keepsRefs reports whether every reference under key in old is still under key in new, so a
// later revision cannot drop a signature field or an annotation.
func keepsRefs(old, new []dictEntry, key string) bool {
	ov, _ := dictGet(old, key)
	nv, _ := dictGet(new, key)
	have := map[objRef]bool{}
	for _, r := range refs(nv) {
		have[r] = true
	}
	for _, r := range refs(ov) {
		if !have[r] {
			return false
		}
	}
	return true
}
