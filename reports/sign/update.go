package sign

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// update writes one incremental update: the original bytes unchanged, new and changed objects,
// a classic xref section for them and a trailer whose /Prev points at the previous section, as
// ISO 32000 §7.5.6 describes. Earlier revisions stay byte for byte what their signatures cover.
type update struct {
	f       *pdfFile
	buf     bytes.Buffer
	offsets map[int]int
	gens    map[int]int
	next    int
}

func newUpdate(f *pdfFile, room int) *update {
	u := &update{f: f, offsets: map[int]int{}, gens: map[int]int{}, next: f.size}
	u.buf.Grow(len(f.data) + room + 4096)
	u.buf.Write(f.data)
	if len(f.data) > 0 && f.data[len(f.data)-1] != '\n' {
		u.buf.WriteByte('\n')
	}
	return u
}

func (u *update) alloc() objRef {
	r := objRef{num: u.next}
	u.next++
	return r
}

func (u *update) begin(r objRef) {
	u.offsets[r.num] = u.buf.Len()
	u.gens[r.num] = r.gen
	fmt.Fprintf(&u.buf, "%d %d obj\n", r.num, r.gen)
}

// object writes a whole non-stream object.
func (u *update) object(r objRef, body []byte) {
	u.begin(r)
	u.buf.Write(body)
	u.buf.WriteString("\nendobj\n")
}

// stream writes data unfiltered as a stream object.
func (u *update) stream(r objRef, data []byte) {
	u.begin(r)
	fmt.Fprintf(&u.buf, "<</Length %d>>\nstream\n", len(data))
	u.buf.Write(data)
	u.buf.WriteString("\nendstream\nendobj\n")
}

// finish writes the xref section and trailer and returns the new file.
func (u *update) finish() []byte {
	xrefPos := u.buf.Len()
	u.buf.WriteString("xref\n0 1\n0000000000 65535 f \n")
	for _, n := range slices.Sorted(maps.Keys(u.offsets)) {
		fmt.Fprintf(&u.buf, "%d 1\n%010d %05d n \n", n, u.offsets[n], u.gens[n])
	}
	trailer := fmt.Sprintf("trailer\n<</Size %d /Root %s", u.next, u.f.root)
	if u.f.info != "" {
		trailer += " " + u.f.info
	}
	if u.f.id != "" {
		trailer += " " + u.f.id
	}
	trailer += fmt.Sprintf(" /Prev %d>>\nstartxref\n%d\n%%%%EOF\n", u.f.startxref, xrefPos)
	u.buf.WriteString(trailer)
	return u.buf.Bytes()
}

// sigField describes a signature dictionary to append: a /Sig for a CMS signature or a
// /DocTimeStamp for an RFC 3161 document time-stamp.
type sigField struct {
	head        string // entries before /ByteRange
	contentsLen int    // bytes reserved for the DER in /Contents
	fieldName   string
	tail        string // entries after /Contents
}

// placeholder is a file with a signature whose /ByteRange is set and whose /Contents is zeros.
type placeholder struct {
	out                      []byte
	contentsPos, contentsEnd int
	contentsLen              int
}

var reFields = regexp.MustCompile(`/AcroForm\s*<<[^>]*?/Fields\s*\[`)

// appendSigField adds sig as a new invisible signature field on page 1 in an incremental update.
func appendSigField(pdf []byte, sig sigField) (*placeholder, error) {
	f, err := parsePDF(pdf)
	if err != nil {
		return nil, err
	}
	catalog, err := f.object(f.root)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	pageRef, page, err := f.firstPage(catalog)
	if err != nil {
		return nil, err
	}
	u := newUpdate(f, 2*sig.contentsLen)
	sigRef, widgetRef := u.alloc(), u.alloc()
	newPage, err := withAnnot(page, widgetRef)
	if err != nil {
		return nil, err
	}
	var newCatalog []byte
	switch loc := reFields.FindIndex(catalog); {
	case loc != nil:
		// Signed before: the new field joins the form's /Fields.
		newCatalog = slices.Concat(catalog[:loc[1]], []byte(widgetRef.String()+" "), catalog[loc[1]:])
	case bytes.Contains(catalog, []byte("/AcroForm")):
		return nil, errors.New("PDF /AcroForm is not an inline dictionary with /Fields; not supported")
	default:
		newCatalog = withEntry(catalog, fmt.Sprintf("/AcroForm <</Fields [%s] /SigFlags 3>>", widgetRef))
	}
	// ETSI.CAdES.detached is a PDF 2.0 (ISO 32000-2) SubFilter; for older files PAdES asks for the
	// ESIC developer extension, and /Version lifts the header version without touching its bytes.
	if !bytes.Contains(catalog, []byte("/Extensions")) {
		newCatalog = withEntry(newCatalog, "/Extensions <</ESIC <</BaseVersion /1.7 /ExtensionLevel 2>>>>")
	}
	if !bytes.Contains(catalog, []byte("/Version")) && pdfVersionBelow17(pdf) {
		newCatalog = withEntry(newCatalog, "/Version /1.7")
	}
	name := sig.fieldName
	for n := 2; bytes.Contains(pdf, []byte("/T "+pdfString(name)+" ")); n++ {
		name = fmt.Sprintf("%s-%d", sig.fieldName, n)
	}

	u.begin(sigRef)
	b := &u.buf
	b.WriteString("<<" + sig.head + "\n/ByteRange ")
	byteRangePos := b.Len()
	const byteRangeWidth = 48
	b.WriteString("[" + strings.Repeat(" ", byteRangeWidth-2) + "]")
	b.WriteString("\n/Contents ")
	ph := &placeholder{contentsPos: b.Len(), contentsLen: sig.contentsLen}
	b.WriteByte('<')
	b.Write(bytes.Repeat([]byte("0"), 2*sig.contentsLen))
	b.WriteByte('>')
	ph.contentsEnd = b.Len()
	b.WriteString(sig.tail)
	b.WriteString(">>\nendobj\n")
	u.object(widgetRef, fmt.Appendf(nil, "<</Type /Annot /Subtype /Widget /FT /Sig /T %s /V %s /F 132 /P %s /Rect [0 0 0 0]>>",
		pdfString(name), sigRef, pageRef))
	u.object(f.root, newCatalog)
	u.object(pageRef, newPage)
	ph.out = u.finish()

	br := fmt.Sprintf("[0 %d %d %d]", ph.contentsPos, ph.contentsEnd, len(ph.out)-ph.contentsEnd)
	if len(br) > byteRangeWidth {
		return nil, errors.New("byte range does not fit its placeholder")
	}
	copy(ph.out[byteRangePos:], br+strings.Repeat(" ", byteRangeWidth-len(br)))
	return ph, nil
}

// signedBytes is what the signature covers: everything but the /Contents value.
func (p *placeholder) signedBytes() []byte {
	return slices.Concat(p.out[:p.contentsPos], p.out[p.contentsEnd:])
}

// fill writes der into the /Contents placeholder.
func (p *placeholder) fill(der []byte) error {
	if len(der) > p.contentsLen {
		return fmt.Errorf("CMS is %d bytes, more than the %d reserved", len(der), p.contentsLen)
	}
	const hexDigits = "0123456789ABCDEF"
	for i, c := range der {
		p.out[p.contentsPos+1+2*i] = hexDigits[c>>4]
		p.out[p.contentsPos+2+2*i] = hexDigits[c&0xf]
	}
	return nil
}
