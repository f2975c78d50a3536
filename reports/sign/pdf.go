package sign

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
)

// A minimal reader for the classic-xref PDFs fpdf writes: enough to find the catalog and
// page 1 so the incremental update can rewrite them. The original bytes are never changed.

type objRef struct{ num, gen int }

func (r objRef) String() string { return fmt.Sprintf("%d %d R", r.num, r.gen) }

type pdfFile struct {
	data      []byte
	startxref int
	size      int
	root      objRef
	info      string // "/Info n g R" or ""
	id        string // "/ID [...]" or ""
	offsets   map[int]int
	// latest holds the objects of the newest xref section only (the last incremental update),
	// freed the object numbers that section marks free; verification compares them with the
	// revision before.
	latest map[int]int
	freed  []int
	xrefs  int
}

var (
	reStartxref = regexp.MustCompile(`startxref\s+(\d+)\s+%%EOF\s*$`)
	reSize      = regexp.MustCompile(`/Size\s+(\d+)`)
	reRoot      = regexp.MustCompile(`/Root\s+(\d+)\s+(\d+)\s+R`)
	reInfo      = regexp.MustCompile(`/Info\s+\d+\s+\d+\s+R`)
	reID        = regexp.MustCompile(`/ID\s*\[[^\]]*\]`)
	rePages     = regexp.MustCompile(`/Pages\s+(\d+)\s+(\d+)\s+R`)
	reKids      = regexp.MustCompile(`/Kids\s*\[\s*(\d+)\s+(\d+)\s+R`)
	reTypePages = regexp.MustCompile(`/Type\s*/Pages\b`)
	reAnnots    = regexp.MustCompile(`/Annots\s*\[`)
)

func parsePDF(data []byte) (*pdfFile, error) {
	if !bytes.HasPrefix(data, []byte("%PDF-")) {
		return nil, errors.New("not a PDF: no %PDF- header")
	}
	tail := data[max(0, len(data)-1024):]
	m := reStartxref.FindSubmatch(tail)
	if m == nil {
		return nil, errors.New("PDF has no startxref/%%EOF at its end")
	}
	sx, _ := strconv.Atoi(string(m[1]))
	if sx <= 0 || sx >= len(data) {
		return nil, fmt.Errorf("PDF startxref %d out of range", sx)
	}
	f := &pdfFile{data: data, startxref: sx, offsets: map[int]int{}, latest: map[int]int{}}
	if !bytes.HasPrefix(data[sx:], []byte("xref")) {
		return nil, errors.New("PDF uses a cross-reference stream; only classic xref tables are supported")
	}
	if err := f.readXref(sx); err != nil {
		return nil, err
	}
	return f, nil
}

// readXref reads one xref section and its trailer, following /Prev for older sections.
func (f *pdfFile) readXref(off int) error {
	first := f.xrefs == 0
	f.xrefs++
	if f.xrefs > 4096 {
		return errors.New("PDF has more than 4096 xref sections (a /Prev loop?)")
	}
	pos := off + len("xref")
	t := bytes.Index(f.data[pos:], []byte("trailer"))
	if t < 0 {
		return errors.New("PDF xref table ends without trailer")
	}
	trailerStart := pos + t
	fields := bytes.Fields(f.data[pos:trailerStart])
	atoi := func(b []byte) (int, error) { return strconv.Atoi(string(b)) }
	for i := 0; i < len(fields); {
		if i+1 >= len(fields) {
			return errors.New("PDF xref subsection header truncated")
		}
		start, err1 := atoi(fields[i])
		count, err2 := atoi(fields[i+1])
		if err1 != nil || err2 != nil || start < 0 || count < 0 || count > len(fields) || i+2+3*count > len(fields) {
			return fmt.Errorf("PDF xref subsection header %q %q is malformed", fields[i], fields[i+1])
		}
		i += 2
		for k := 0; k < count; k++ {
			o, err := atoi(fields[i])
			if err != nil {
				return fmt.Errorf("PDF xref entry offset %q: %w", fields[i], err)
			}
			if _, seen := f.offsets[start+k]; !seen && string(fields[i+2]) == "n" {
				f.offsets[start+k] = o
				if first {
					f.latest[start+k] = o
				}
			}
			if first && string(fields[i+2]) == "f" && start+k != 0 {
				f.freed = append(f.freed, start+k)
			}
			i += 3
		}
	}
	end := bytes.Index(f.data[trailerStart:], []byte("startxref"))
	if end < 0 {
		return errors.New("PDF trailer without startxref")
	}
	trailer := f.data[trailerStart : trailerStart+end]
	if first {
		m := reSize.FindSubmatch(trailer)
		if m == nil {
			return errors.New("PDF trailer has no /Size")
		}
		f.size, _ = strconv.Atoi(string(m[1]))
		r := reRoot.FindSubmatch(trailer)
		if r == nil {
			return errors.New("PDF trailer has no /Root")
		}
		f.root.num, _ = strconv.Atoi(string(r[1]))
		f.root.gen, _ = strconv.Atoi(string(r[2]))
		f.info = string(reInfo.Find(trailer))
		f.id = string(reID.Find(trailer))
	}
	if p := regexp.MustCompile(`/Prev\s+(\d+)`).FindSubmatch(trailer); p != nil {
		prev, _ := strconv.Atoi(string(p[1]))
		if prev <= 0 || prev >= off || !bytes.HasPrefix(f.data[prev:], []byte("xref")) {
			return fmt.Errorf("PDF trailer /Prev %d is not an xref table", prev)
		}
		return f.readXref(prev)
	}
	return nil
}

// object returns the body of object ref, between "obj" and "endobj".
func (f *pdfFile) object(ref objRef) ([]byte, error) {
	off, ok := f.offsets[ref.num]
	if !ok || off <= 0 || off >= len(f.data) {
		return nil, fmt.Errorf("PDF object %d not in the xref table", ref.num)
	}
	head := fmt.Sprintf("%d %d obj", ref.num, ref.gen)
	if !bytes.HasPrefix(f.data[off:], []byte(head)) {
		return nil, fmt.Errorf("PDF xref offset %d for object %d does not point at %q", off, ref.num, head)
	}
	body := f.data[off+len(head):]
	end := bytes.Index(body, []byte("endobj"))
	if end < 0 {
		return nil, fmt.Errorf("PDF object %d has no endobj", ref.num)
	}
	body = bytes.TrimSpace(body[:end])
	if bytes.Contains(body, []byte("stream")) {
		return nil, fmt.Errorf("PDF object %d is a stream, want a dictionary", ref.num)
	}
	if !bytes.HasPrefix(body, []byte("<<")) || !bytes.HasSuffix(body, []byte(">>")) {
		return nil, fmt.Errorf("PDF object %d is not a dictionary", ref.num)
	}
	return body, nil
}

// firstPage walks the page tree from the catalog to page 1.
func (f *pdfFile) firstPage(catalog []byte) (objRef, []byte, error) {
	m := rePages.FindSubmatch(catalog)
	if m == nil {
		return objRef{}, nil, errors.New("PDF catalog has no /Pages")
	}
	ref := objRef{}
	ref.num, _ = strconv.Atoi(string(m[1]))
	ref.gen, _ = strconv.Atoi(string(m[2]))
	for depth := 0; depth < 32; depth++ {
		body, err := f.object(ref)
		if err != nil {
			return objRef{}, nil, err
		}
		if !reTypePages.Match(body) {
			return ref, body, nil
		}
		k := reKids.FindSubmatch(body)
		if k == nil {
			return objRef{}, nil, fmt.Errorf("PDF page tree node %d has no /Kids", ref.num)
		}
		ref.num, _ = strconv.Atoi(string(k[1]))
		ref.gen, _ = strconv.Atoi(string(k[2]))
	}
	return objRef{}, nil, errors.New("PDF page tree deeper than 32 levels")
}

// withEntry returns dict with entry added before its closing ">>".
func withEntry(dict []byte, entry string) []byte {
	out := append([]byte(nil), dict[:len(dict)-2]...)
	out = append(out, '\n')
	out = append(out, entry...)
	return append(out, []byte("\n>>")...)
}

// withAnnot adds ref to the page's /Annots, creating the array when absent.
func withAnnot(page []byte, ref objRef) ([]byte, error) {
	if loc := reAnnots.FindIndex(page); loc != nil {
		out := append([]byte(nil), page[:loc[1]]...)
		out = append(out, ref.String()+" "...)
		return append(out, page[loc[1]:]...), nil
	}
	if bytes.Contains(page, []byte("/Annots")) {
		return nil, errors.New("page 1 /Annots is an indirect reference; not supported")
	}
	return withEntry(page, "/Annots ["+ref.String()+"]"), nil
}
