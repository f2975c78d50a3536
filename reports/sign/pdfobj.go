package sign

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
)

// A small reader for PDF object syntax: enough to split a dictionary into its entries, so a later
// revision can be compared with the one before it entry by entry, and to read the DSS streams.
// Every index is checked; malformed input gives an error, never a panic.

const maxNesting = 64

// skipSpace returns the index of the first byte at or after i that is neither white space nor part
// of a comment.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n', '\f', 0:
			i++
		case '%':
			for i < len(b) && b[i] != '\n' && b[i] != '\r' {
				i++
			}
		default:
			return i
		}
	}
	return i
}

func isDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '\f', 0, '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

// skipValue returns the end of the PDF value starting at b[i] (after white space).
func skipValue(b []byte, i, depth int) (int, error) {
	if depth > maxNesting {
		return 0, errors.New("PDF value nested too deeply")
	}
	i = skipSpace(b, i)
	if i >= len(b) {
		return 0, errors.New("PDF value truncated")
	}
	switch {
	case bytes.HasPrefix(b[i:], []byte("<<")):
		i += 2
		for {
			i = skipSpace(b, i)
			if i >= len(b) {
				return 0, errors.New("PDF dictionary not closed")
			}
			if bytes.HasPrefix(b[i:], []byte(">>")) {
				return i + 2, nil
			}
			var err error
			if i, err = skipValue(b, i, depth+1); err != nil {
				return 0, err
			}
		}
	case b[i] == '[':
		i++
		for {
			i = skipSpace(b, i)
			if i >= len(b) {
				return 0, errors.New("PDF array not closed")
			}
			if b[i] == ']' {
				return i + 1, nil
			}
			var err error
			if i, err = skipValue(b, i, depth+1); err != nil {
				return 0, err
			}
		}
	case b[i] == '<':
		end := bytes.IndexByte(b[i:], '>')
		if end < 0 {
			return 0, errors.New("PDF hex string not closed")
		}
		return i + end + 1, nil
	case b[i] == '(':
		level := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '(':
				level++
			case ')':
				level--
				if level == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errors.New("PDF string not closed")
	case b[i] == '/':
		j := i + 1
		for j < len(b) && !isDelim(b[j]) {
			j++
		}
		return j, nil
	case b[i] == ']' || b[i] == '>' || b[i] == ')' || b[i] == '{' || b[i] == '}':
		return 0, fmt.Errorf("PDF value starts with %q", b[i])
	default:
		// A number, true/false/null, or an indirect reference "n g R".
		j := i
		for j < len(b) && !isDelim(b[j]) {
			j++
		}
		if m := reRefAt.FindIndex(b[i:]); m != nil && m[0] == 0 {
			return i + m[1], nil
		}
		return j, nil
	}
}

var reRefAt = regexp.MustCompile(`^\d{1,10}\s+\d{1,5}\s+R\b`)

// dictEntry is one key and its raw value.
type dictEntry struct {
	key   string
	value []byte
}

// parseDict splits a dictionary "<< ... >>" into its top-level entries, in order.
func parseDict(b []byte) ([]dictEntry, error) {
	i := skipSpace(b, 0)
	if !bytes.HasPrefix(b[i:], []byte("<<")) {
		return nil, errors.New("not a PDF dictionary")
	}
	i += 2
	var out []dictEntry
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return nil, errors.New("PDF dictionary not closed")
		}
		if bytes.HasPrefix(b[i:], []byte(">>")) {
			return out, nil
		}
		if b[i] != '/' {
			return nil, fmt.Errorf("PDF dictionary key expected at %q", b[i:min(len(b), i+16)])
		}
		kEnd, err := skipValue(b, i, 1)
		if err != nil {
			return nil, err
		}
		vStart := skipSpace(b, kEnd)
		vEnd, err := skipValue(b, vStart, 1)
		if err != nil {
			return nil, err
		}
		out = append(out, dictEntry{key: string(b[i+1 : kEnd]), value: b[vStart:vEnd]})
		i = vEnd
	}
}

func dictGet(entries []dictEntry, key string) ([]byte, bool) {
	for _, e := range entries {
		if e.key == key {
			return e.value, true
		}
	}
	return nil, false
}

// sameDictExcept reports whether two dictionaries hold the same entries with the same raw values,
// ignoring the keys in skip.
func sameDictExcept(a, b []dictEntry, skip ...string) bool {
	keep := func(es []dictEntry) map[string]string {
		m := map[string]string{}
		for _, e := range es {
			if !contains(skip, e.key) {
				m[e.key] = string(bytes.Join(bytes.Fields(e.value), []byte(" ")))
			}
		}
		return m
	}
	ma, mb := keep(a), keep(b)
	if len(ma) != len(mb) {
		return false
	}
	for k, v := range ma {
		if w, ok := mb[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var reRef = regexp.MustCompile(`(\d{1,10})\s+(\d{1,5})\s+R\b`)

// refs lists the indirect references in a raw value.
func refs(v []byte) []objRef {
	var out []objRef
	for _, m := range reRef.FindAllSubmatch(v, -1) {
		n, err1 := strconv.Atoi(string(m[1]))
		g, err2 := strconv.Atoi(string(m[2]))
		if err1 == nil && err2 == nil {
			out = append(out, objRef{num: n, gen: g})
		}
	}
	return out
}

func nameIs(entries []dictEntry, key, name string) bool {
	v, ok := dictGet(entries, key)
	return ok && string(bytes.TrimSpace(v)) == "/"+name
}

// streamObject returns object num's dictionary entries and, when it is a stream, its data with
// FlateDecode undone.
func (f *pdfFile) streamObject(num int) ([]dictEntry, []byte, bool, error) {
	off, ok := f.offsets[num]
	if !ok || off < 0 || off >= len(f.data) {
		return nil, nil, false, fmt.Errorf("PDF object %d not in the xref table", num)
	}
	m := reObjHead.FindSubmatchIndex(f.data[off:min(len(f.data), off+32)])
	if m == nil || m[0] != 0 || string(f.data[off+m[2]:off+m[3]]) != strconv.Itoa(num) {
		return nil, nil, false, fmt.Errorf("PDF xref offset %d for object %d does not point at its header", off, num)
	}
	start := off + m[1]
	end, err := skipValue(f.data, start, 0)
	if err != nil {
		return nil, nil, false, fmt.Errorf("PDF object %d: %w", num, err)
	}
	entries, err := parseDict(f.data[start:end])
	if err != nil {
		return nil, nil, false, fmt.Errorf("PDF object %d: %w", num, err)
	}
	i := skipSpace(f.data, end)
	if !bytes.HasPrefix(f.data[i:], []byte("stream")) {
		if !bytes.HasPrefix(f.data[i:], []byte("endobj")) {
			return nil, nil, false, fmt.Errorf("PDF object %d: no endobj after its dictionary", num)
		}
		return entries, nil, false, nil
	}
	i += len("stream")
	if bytes.HasPrefix(f.data[i:], []byte("\r\n")) {
		i += 2
	} else if i < len(f.data) && f.data[i] == '\n' {
		i++
	} else {
		return nil, nil, false, fmt.Errorf("PDF object %d: stream keyword not followed by EOL", num)
	}
	lv, _ := dictGet(entries, "Length")
	n, err := strconv.Atoi(string(bytes.TrimSpace(lv)))
	if err != nil || n < 0 || n > len(f.data)-i {
		return nil, nil, false, fmt.Errorf("PDF object %d: stream /Length %q is not a direct length within the file", num, lv)
	}
	data := f.data[i : i+n]
	rest := skipSpace(f.data, i+n)
	if !bytes.HasPrefix(f.data[rest:], []byte("endstream")) {
		return nil, nil, false, fmt.Errorf("PDF object %d: stream data not followed by endstream", num)
	}
	if fv, ok := dictGet(entries, "Filter"); ok {
		if string(bytes.TrimSpace(fv)) != "/FlateDecode" {
			return nil, nil, false, fmt.Errorf("PDF object %d: stream filter %s not supported", num, fv)
		}
		zr, err := zlib.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, nil, false, fmt.Errorf("PDF object %d: %w", num, err)
		}
		data, err = io.ReadAll(io.LimitReader(zr, 16<<20))
		if err != nil {
			return nil, nil, false, fmt.Errorf("PDF object %d: inflate: %w", num, err)
		}
	}
	return entries, data, true, nil
}

var reObjHead = regexp.MustCompile(`^(\d{1,10})\s+(\d{1,5})\s+obj\b`)
