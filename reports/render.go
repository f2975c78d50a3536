package reports

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/varde/varde"
)

// Page geometry. Every page is A4 portrait; signing places its widget on page 1.
const (
	PageWidthPt  = 595.28
	PageHeightPt = 841.89
	MarginMM     = 15.0

	pageW   = 210.0
	pageH   = 297.0
	footerH = 10.0 // space reserved under the body for the "Page X of Y" footer
)

// Producer is written into every PDF's Info dictionary; fixed so that output is deterministic.
var Producer = "varde " + varde.Version + " (github.com/go-pdf/fpdf)"

// Options control rendering. The zero value is usable but not deterministic: Now defaults to time.Now.
type Options struct {
	// Now gives the time written as the PDF's CreationDate and ModDate and printed as "generated".
	// Inject a fixed clock for reproducible output.
	Now func() time.Time
	// Title overrides the layout's default title.
	Title string
	// Author is written into the Info dictionary; default "varde".
	Author string
	// Incomplete, when set, says why the audit behind the report is incomplete (for example "audit
	// interrupted before it finished"); it is printed in red on every page, so no page can be taken out
	// and shown as part of a complete record.
	Incomplete string
	// Evidence, when set, is embedded as the file EvidenceFile: the audit's head, its leaf in the
	// evidence log, the inclusion proof and the signed checkpoint, so the signed PDF carries what ties it
	// to the log (`varde verify --pdf`).
	Evidence []byte
}

func (o Options) withDefaults(title string) Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Title == "" {
		o.Title = title
	}
	if o.Author == "" {
		o.Author = "varde"
	}
	return o
}

// Font families registered in every document.
const (
	fontSans = "gosans"
	fontMono = "gomono"
)

// doc wraps an fpdf document with varde's page furniture and a rune-width cache, because fpdf's
// own width lookups redo work per call and dominate big tables.
type doc struct {
	f        *fpdf.Fpdf
	title    string
	subtitle string // printed in the running header of pages after the first
	now      time.Time
	widths   map[string][]float64 // per font key: width of rune r at size 1 pt in mm, for r < 0x3000
	curFont  string
	curSize  float64
	// incomplete is Options.Incomplete, printed in every footer.
	incomplete string
}

func newDoc(opts Options) *doc {
	f := fpdf.NewCustom(&fpdf.InitType{
		OrientationStr: "P",
		UnitStr:        "mm",
		SizeStr:        "A4",
	})
	now := opts.Now().UTC()
	f.SetCreationDate(now)
	f.SetModificationDate(now)
	f.SetProducer(Producer, true)
	f.SetCreator("varde "+varde.Version, true)
	f.SetAuthor(opts.Author, true)
	f.SetTitle(opts.Title, true)
	f.SetCatalogSort(true)
	f.SetCompression(true)
	f.SetMargins(MarginMM, MarginMM, MarginMM)
	if len(opts.Evidence) > 0 {
		f.SetAttachments([]fpdf.Attachment{{Content: opts.Evidence, Filename: EvidenceFile,
			Description: "varde evidence: audit head, log leaf, inclusion proof, signed checkpoint"}})
	}
	f.SetCellMargin(0)                          // cells are padded explicitly; fpdf's implicit padding would push text past widths
	f.SetAutoPageBreak(false, MarginMM+footerH) // tables break pages themselves
	// fpdf writes into the font bytes it is given while subsetting (the head table's checksum), so
	// each document gets its own copy: sharing gofont's slices races between concurrent renders and
	// makes the output nondeterministic.
	f.AddUTF8FontFromBytes(fontSans, "", bytes.Clone(goregular.TTF))
	f.AddUTF8FontFromBytes(fontSans, "B", bytes.Clone(gobold.TTF))
	f.AddUTF8FontFromBytes(fontMono, "", bytes.Clone(gomono.TTF))
	f.AliasNbPages("{nb}")
	d := &doc{f: f, title: opts.Title, now: now, widths: map[string][]float64{}, incomplete: opts.Incomplete}
	f.SetFooterFunc(d.footer)
	f.SetHeaderFunc(d.header)
	return d
}

// header and footer run inside fpdf's AddPage, between font changes this doc does not see, so they
// drop the font cache before and after drawing.
func (d *doc) header() {
	if d.f.PageNo() == 1 {
		return
	}
	d.curFont = ""
	defer func() { d.curFont = "" }()
	d.font(fontSans, "", 8)
	d.f.SetTextColor(90, 90, 90)
	d.f.SetXY(MarginMM, 8)
	d.f.CellFormat(pageW-2*MarginMM, 4, d.fit(d.title+" — "+d.subtitle, pageW-2*MarginMM), "", 0, "L", false, 0, "")
	d.f.SetTextColor(0, 0, 0)
	d.f.SetXY(MarginMM, MarginMM)
}

func (d *doc) footer() {
	d.curFont = ""
	defer func() { d.curFont = "" }()
	f := d.f
	y := pageH - MarginMM - 4
	f.SetDrawColor(160, 160, 160)
	f.SetLineWidth(0.2)
	f.Line(MarginMM, y-1.5, pageW-MarginMM, y-1.5)
	d.font(fontSans, "", 8)
	f.SetTextColor(90, 90, 90)
	f.SetXY(MarginMM, y)
	left := "varde " + varde.Version + " · generated " + d.now.Format("2006-01-02 15:04 UTC")
	if d.incomplete != "" {
		d.font(fontSans, "B", 8)
		f.SetTextColor(190, 0, 0)
		left = "INCOMPLETE: " + d.incomplete
	}
	f.CellFormat(120, 4, d.fit(left, 120), "", 0, "L", false, 0, "")
	d.font(fontSans, "", 8)
	f.SetTextColor(90, 90, 90)
	// The page total is an alias replaced at output; left-align from a fixed x so its final width
	// cannot push the text past the margin.
	f.SetXY(pageW-MarginMM-35, y)
	f.CellFormat(35, 4, fmt.Sprintf("Page %d of {nb}", f.PageNo()), "", 0, "L", false, 0, "")
	f.SetTextColor(0, 0, 0)
}

// font selects a font, skipping fpdf's work when nothing changes.
func (d *doc) font(family, style string, size float64) {
	key := family + style
	if key == d.curFont && size == d.curSize {
		return
	}
	d.f.SetFont(family, style, size)
	d.curFont, d.curSize = key, size
}

// runeWidths returns the width table of the current font at size 1 pt, in mm.
func (d *doc) runeWidths() []float64 {
	if w, ok := d.widths[d.curFont]; ok {
		return w
	}
	size := d.curSize
	d.f.SetFontSize(1)
	w := make([]float64, 0x3000)
	var buf [utf8.UTFMax]byte
	for r := rune(0); r < 0x3000; r++ {
		n := utf8.EncodeRune(buf[:], r)
		w[r] = d.f.GetStringWidth(string(buf[:n]))
	}
	d.f.SetFontSize(size)
	d.widths[d.curFont] = w
	return w
}

// width is the width of s in mm in the current font.
func (d *doc) width(s string) float64 {
	w := d.runeWidths()
	sum := 0.0
	for _, r := range s {
		if r < 0x3000 {
			sum += w[r]
		} else {
			sum += w['M']
		}
	}
	return sum * d.curSize
}

// fit shortens s with an ellipsis so that it fits in w mm; used only for page furniture.
func (d *doc) fit(s string, w float64) string {
	if d.width(s) <= w {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && d.width(string(r)+"…") > w {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}

// wrap breaks s into lines no wider than w mm in the current font. It breaks at spaces, and inside
// words too long for a line (hashes, URLs), preferring a break after '/', '-', '.', ':' or '_'.
// Explicit newlines are kept.
func (d *doc) wrap(s string, w float64) []string {
	if s == "" {
		return []string{""}
	}
	rw := d.runeWidths()
	maxW := w / d.curSize
	rwidth := func(r rune) float64 {
		if r < 0x3000 {
			return rw[r]
		}
		return rw['M']
	}
	var lines []string
	for para := range strings.SplitSeq(s, "\n") {
		rs := []rune(strings.TrimRightFunc(para, unicode.IsSpace))
		if len(rs) == 0 {
			lines = append(lines, "")
			continue
		}
		start := 0
		for start < len(rs) {
			lineW := 0.0
			lastSpace, lastSoft := -1, -1
			i := start
			for ; i < len(rs); i++ {
				cw := rwidth(rs[i])
				if lineW+cw > maxW && i > start {
					break
				}
				lineW += cw
				switch rs[i] {
				case ' ', '\t':
					lastSpace = i
				case '/', '-', '.', ':', '_', ',', ';':
					lastSoft = i
				}
			}
			if i == len(rs) {
				lines = append(lines, string(rs[start:]))
				break
			}
			end, next := i, i // hard break inside a word
			switch {
			case rs[i] == ' ':
				end, next = i, i+1
			case lastSpace > start:
				end, next = lastSpace, lastSpace+1
			case lastSoft >= start:
				end, next = lastSoft+1, lastSoft+1
			}
			lines = append(lines, strings.TrimRightFunc(string(rs[start:end]), unicode.IsSpace))
			for next < len(rs) && rs[next] == ' ' {
				next++
			}
			start = next
		}
	}
	return lines
}

// bottom is the lowest y the body may use.
func (d *doc) bottom() float64 { return pageH - MarginMM - footerH }

func (d *doc) newPage() {
	d.f.AddPage()
	d.curFont = "" // fpdf restores fonts around header/footer; force the next font call through
}

// ensure starts a new page unless h mm are still free.
func (d *doc) ensure(h float64) {
	if d.f.GetY()+h > d.bottom() {
		d.newPage()
	}
}

func (d *doc) heading(s string) {
	d.ensure(20)
	d.f.Ln(3)
	d.font(fontSans, "B", 13)
	d.f.SetX(MarginMM)
	d.f.CellFormat(0, 7, s, "", 1, "L", false, 0, "")
	d.f.Ln(1)
}

// paragraph writes wrapped text across the body width.
func (d *doc) paragraph(family, style string, size float64, s string) {
	d.font(family, style, size)
	lh := size * 0.45
	for _, l := range d.wrap(s, pageW-2*MarginMM) {
		d.ensure(lh)
		d.font(family, style, size)
		d.f.SetX(MarginMM)
		d.f.CellFormat(0, lh, l, "", 1, "L", false, 0, "")
	}
}

// column describes one table column.
type column struct {
	header string
	width  float64 // mm
	align  string  // "L", "R", "C"
	mono   bool    // hashes and addresses in the mono font
}

const (
	cellPad   = 1.0
	tableSize = 7.5
	tableLine = 3.4 // mm per text line at tableSize
)

// table draws rows under a header that is repeated on every page the table spans. Cells wrap; a row
// taller than the free space moves to the next page, and a row taller than a whole page is split.
// row(i) returns the cells of row i.
func (d *doc) table(cols []column, n int, row func(i int) []string) {
	total := 0.0
	for _, c := range cols {
		total += c.width
	}
	if total > pageW-2*MarginMM+0.01 {
		panic(fmt.Sprintf("reports: table %q is %.1f mm wide, more than the body", cols[0].header, total))
	}
	d.tableHeader(cols)
	lines := make([][]string, len(cols))
	for i := range n {
		cells := row(i)
		maxLines := 1
		for j, c := range cols {
			d.cellFont(c)
			lines[j] = d.wrap(cells[j], c.width-2*cellPad)
			maxLines = max(maxLines, len(lines[j]))
		}
		fill := i%2 == 1
		from := 0
		for from < maxLines {
			free := d.bottom() - d.f.GetY() - 2*cellPad
			fit := int(free / tableLine)
			if fit < min(maxLines-from, 3) { // keep short rows whole; never start a row with no room
				d.newPage()
				d.tableHeader(cols)
				continue
			}
			to := min(maxLines, from+fit)
			d.tableRow(cols, lines, from, to, fill)
			from = to
		}
	}
	d.f.Ln(2)
}

func (d *doc) cellFont(c column) {
	if c.mono {
		d.font(fontMono, "", tableSize-0.5)
	} else {
		d.font(fontSans, "", tableSize)
	}
}

func (d *doc) tableHeader(cols []column) {
	f := d.f
	d.font(fontSans, "B", tableSize)
	maxLines := 1
	hl := make([][]string, len(cols))
	for j, c := range cols {
		hl[j] = d.wrap(c.header, c.width-2*cellPad)
		maxLines = max(maxLines, len(hl[j]))
	}
	h := float64(maxLines)*tableLine + 2*cellPad
	if f.GetY()+h+tableLine+2*cellPad > d.bottom() {
		d.newPage()
		d.font(fontSans, "B", tableSize)
	}
	y := f.GetY()
	x := MarginMM
	f.SetFillColor(225, 230, 238)
	f.SetDrawColor(150, 150, 150)
	f.SetLineWidth(0.15)
	for j, c := range cols {
		f.Rect(x, y, c.width, h, "FD")
		for k, l := range hl[j] {
			f.SetXY(x+cellPad, y+cellPad+float64(k)*tableLine)
			f.CellFormat(c.width-2*cellPad, tableLine, l, "", 0, c.align, false, 0, "")
		}
		x += c.width
	}
	f.SetXY(MarginMM, y+h)
}

func (d *doc) tableRow(cols []column, lines [][]string, from, to int, fill bool) {
	f := d.f
	y := f.GetY()
	h := float64(to-from)*tableLine + 2*cellPad
	x := MarginMM
	f.SetFillColor(245, 246, 248)
	f.SetDrawColor(190, 190, 190)
	f.SetLineWidth(0.1)
	style := "D"
	if fill {
		style = "FD"
	}
	for j, c := range cols {
		f.Rect(x, y, c.width, h, style)
		d.cellFont(c)
		// Text is much cheaper than CellFormat, and big tables are mostly cell text.
		base := y + cellPad + 0.5*tableLine + 0.3*d.curSize*25.4/72
		for k := from; k < min(to, len(lines[j])); k++ {
			l := lines[j][k]
			if l == "" {
				continue
			}
			tx := x + cellPad
			switch c.align {
			case "R":
				tx = x + c.width - cellPad - d.width(l)
			case "C":
				tx = x + (c.width-d.width(l))/2
			}
			f.Text(tx, base+float64(k-from)*tableLine, l)
		}
		x += c.width
	}
	f.SetXY(MarginMM, y+h)
}

// keyValues draws a two-column list of labels and wrapped values.
func (d *doc) keyValues(labelW float64, kv [][2]string) {
	f := d.f
	valW := pageW - 2*MarginMM - labelW
	for _, p := range kv {
		d.font(fontSans, "", 9.5)
		vl := d.wrap(p[1], valW)
		h := float64(len(vl)) * 4.6
		d.ensure(h)
		y := f.GetY()
		d.font(fontSans, "B", 9.5)
		f.SetXY(MarginMM, y)
		f.CellFormat(labelW, 4.6, p[0], "", 0, "L", false, 0, "")
		d.font(fontSans, "", 9.5)
		for k, l := range vl {
			f.SetXY(MarginMM+labelW, y+float64(k)*4.6)
			f.CellFormat(valW, 4.6, l, "", 0, "L", false, 0, "")
		}
		f.SetXY(MarginMM, y+h+0.6)
	}
}

// finish writes the document to w.
func (d *doc) finish(w io.Writer) error {
	if err := d.f.Error(); err != nil {
		return fmt.Errorf("render pdf: %w", err)
	}
	var buf bytes.Buffer
	if err := d.f.Output(&buf); err != nil {
		return fmt.Errorf("render pdf: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write pdf: %w", err)
	}
	return nil
}

// Formatting shared by the layouts.

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func fmtDate(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02")
}

// fmtMS prints a duration in milliseconds with a precision that suits its size.
func fmtMS(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2f", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f", ms)
	default:
		return fmt.Sprintf("%.0f", ms)
	}
}

func fmtCoord(lat, lon float64) string {
	ns, ew := "N", "E"
	if lat < 0 {
		ns, lat = "S", -lat
	}
	if lon < 0 {
		ew, lon = "W", -lon
	}
	return fmt.Sprintf("%.2f %s %.2f %s", lat, ns, lon, ew)
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "—"
	}
	return s
}

// errModel reports a model that cannot be rendered, naming the field.
func errModel(layout, field, problem string) error {
	return fmt.Errorf("%s model: %s %s", layout, field, problem)
}

var errNilWriter = errors.New("reports: nil writer")
