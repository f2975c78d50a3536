package reports

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

func (m *SalesModel) validate() error {
	const l = "sales"
	switch {
	case strings.TrimSpace(m.Vantage.Name) == "":
		return errModel(l, "Vantage.Name", "is empty")
	case len(m.Targets) == 0:
		return errModel(l, "Targets", "is empty: nothing to compare")
	case m.Window.From.IsZero() || m.Window.Until.IsZero():
		return errModel(l, "Window", "needs both From and Until")
	case m.Window.Until.Before(m.Window.From):
		return errModel(l, "Window", "ends before it starts")
	}
	for i, t := range m.Targets {
		name := fmt.Sprintf("Targets[%d] (%q)", i, t.Label)
		switch {
		case strings.TrimSpace(t.Label) == "":
			return errModel(l, fmt.Sprintf("Targets[%d]", i), "has no label")
		case t.ICMPSamples < 0 || t.TCPSamples < 0:
			return errModel(l, name, "has a negative sample count")
		case t.ICMPP50 < 0 || t.ICMPP95 < 0 || t.TCPP50 < 0 || t.TCPP95 < 0:
			return errModel(l, name, "has a negative time")
		case t.ICMPSamples > 0 && t.ICMPP95 < t.ICMPP50:
			return errModel(l, name, "has ICMP p95 below p50")
		case t.TCPSamples > 0 && t.TCPP95 < t.TCPP50:
			return errModel(l, name, "has TCP p95 below p50")
		}
	}
	for i, r := range m.Monitoring {
		if err := r.validate(l, i); err != nil {
			return err
		}
	}
	return nil
}

// Sales renders the sales latency comparison: a vector bar chart of ICMP RTT and TCP handshake
// p50/p95 per target, the same figures as a table, and a method note.
func Sales(w io.Writer, m SalesModel, opts Options) error {
	if w == nil {
		return errNilWriter
	}
	if err := m.validate(); err != nil {
		return err
	}
	opts = opts.withDefaults("Latency comparison")
	d := newDoc(opts)
	v := m.Vantage
	from := v.Name
	if v.City != "" {
		from += " (" + v.City + ")"
	}
	d.subtitle = "from " + from
	d.f.SetSubject("Latency from "+from, true)

	d.newPage()
	f := d.f
	d.font(fontSans, "B", 20)
	for _, l := range d.wrap(d.title, pageW-2*MarginMM) {
		f.SetX(MarginMM)
		f.CellFormat(0, 9, l, "", 1, "L", false, 0, "")
	}
	d.font(fontSans, "", 11)
	sub := "Round-trip and TCP handshake times from " + from
	if m.Organisation != "" {
		sub = m.Organisation + " · " + sub
	}
	for _, l := range d.wrap(sub, pageW-2*MarginMM) {
		f.SetX(MarginMM)
		f.CellFormat(0, 5.5, l, "", 1, "L", false, 0, "")
	}
	f.Ln(4)
	salesChart(d, m.Targets)
	d.heading("Figures")
	d.table([]column{
		{header: "Target", width: 40, align: "L"},
		{header: "Host", width: 38, align: "L", mono: true},
		{header: "ICMP p50 ms", width: 17, align: "R"},
		{header: "ICMP p95 ms", width: 17, align: "R"},
		{header: "ICMP samples", width: 17, align: "R"},
		{header: "TCP p50 ms", width: 17, align: "R"},
		{header: "TCP p95 ms", width: 17, align: "R"},
		{header: "TCP samples", width: 17, align: "R"},
	}, len(m.Targets), func(i int) []string {
		t := m.Targets[i]
		ms := func(n int, d time.Duration) string {
			if n == 0 {
				return "n/a"
			}
			return fmtMS(d)
		}
		return []string{
			t.Label, orDash(t.Host),
			ms(t.ICMPSamples, t.ICMPP50), ms(t.ICMPSamples, t.ICMPP95), strconv.Itoa(t.ICMPSamples),
			ms(t.TCPSamples, t.TCPP50), ms(t.TCPSamples, t.TCPP95), strconv.Itoa(t.TCPSamples),
		}
	})
	salesMonitoring(d, m.Monitoring)
	d.heading("Method")
	d.paragraph(fontSans, "", 9.5, methodNote(&m))
	if m.AuditID != "" {
		d.f.Ln(2)
		d.paragraph(fontSans, "", 8.5, "Figures come from the stored evidence of audit "+m.AuditID+"; `varde verify --audit "+m.AuditID+"` recomputes its hash chain.")
	}
	return d.finish(w)
}

func methodNote(m *SalesModel) string {
	v := m.Vantage
	icmp, tcp := 0, 0
	for _, t := range m.Targets {
		icmp += t.ICMPSamples
		tcp += t.TCPSamples
	}
	where := v.Name
	if v.City != "" {
		where += " in " + v.City
	}
	where += " (" + fmtCoord(v.Lat, v.Lon)
	if v.Network != "" {
		where += ", network " + v.Network
	}
	where += ")"
	s := fmt.Sprintf("Measured from vantage %s between %s and %s. ", where, fmtTime(m.Window.From), fmtTime(m.Window.Until))
	s += fmt.Sprintf("ICMP RTT is the round trip of an ICMP echo request and its reply (%d samples in all); "+
		"TCP handshake is the time from sending SYN to receiving SYN-ACK on the target's service port (%d samples in all). ", icmp, tcp)
	s += "p50 is the median and p95 the 95th percentile of the replies received; lost probes are not counted as times. " +
		"\"n/a\" means that kind was not measured for the target."
	if m.MethodNote != "" {
		s += " " + m.MethodNote
	}
	return s
}

// Chart colours: ICMP in blue, TCP in orange; p95 is the lighter shade of the same hue.
var (
	colICMP50 = [3]int{31, 90, 160}
	colICMP95 = [3]int{140, 180, 225}
	colTCP50  = [3]int{205, 100, 20}
	colTCP95  = [3]int{245, 180, 120}
)

// niceStep picks an axis step of 1, 2 or 5 × 10^n giving at most about six ticks.
func niceStep(maxV float64) float64 {
	if maxV <= 0 {
		return 1
	}
	raw := maxV / 6
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// salesChart draws horizontal grouped bars, one group per target, scaled to the largest time.
func salesChart(d *doc, targets []SalesTarget) {
	f := d.f
	const (
		labelW = 42.0
		valueW = 16.0 // room for the value printed after the longest bar
		barH   = 3.6
		barGap = 0.6
		grpGap = 4.0
	)
	maxMS := 0.0
	for _, t := range targets {
		if t.ICMPSamples > 0 {
			maxMS = max(maxMS, ms(t.ICMPP95), ms(t.ICMPP50))
		}
		if t.TCPSamples > 0 {
			maxMS = max(maxMS, ms(t.TCPP95), ms(t.TCPP50))
		}
	}
	step := niceStep(maxMS)
	axisMax := math.Max(step, math.Ceil(maxMS/step)*step)
	x0 := MarginMM + labelW
	plotW := pageW - 2*MarginMM - labelW - valueW
	scale := plotW / axisMax
	grpH := 4*barH + 3*barGap

	d.font(fontSans, "B", 10)
	f.SetX(MarginMM)
	f.CellFormat(0, 5, "ICMP round-trip time and TCP handshake time, milliseconds (shorter is better)", "", 1, "L", false, 0, "")
	f.Ln(1)
	// Legend.
	d.font(fontSans, "", 8)
	lx := MarginMM
	ly := f.GetY()
	for _, it := range []struct {
		c [3]int
		s string
	}{{colICMP50, "ICMP RTT p50"}, {colICMP95, "ICMP RTT p95"}, {colTCP50, "TCP handshake p50"}, {colTCP95, "TCP handshake p95"}} {
		f.SetFillColor(it.c[0], it.c[1], it.c[2])
		f.Rect(lx, ly+0.8, 4, 2.8, "F")
		f.SetXY(lx+5, ly)
		f.CellFormat(0, 4.4, it.s, "", 0, "L", false, 0, "")
		lx += 5 + d.width(it.s) + 7
	}
	f.SetY(ly + 8)

	axisTop := f.GetY()
	drawAxis := func(top, bottom float64) {
		f.SetDrawColor(215, 215, 215)
		f.SetLineWidth(0.15)
		d.font(fontSans, "", 7)
		f.SetTextColor(90, 90, 90)
		for v := 0.0; v <= axisMax+step/1000; v += step {
			x := x0 + v*scale
			f.Line(x, top, x, bottom)
			lbl := strconv.FormatFloat(v, 'f', -1, 64)
			f.SetXY(x-10, bottom+0.5)
			f.CellFormat(20, 3.5, lbl, "", 0, "C", false, 0, "")
		}
		f.SetDrawColor(60, 60, 60)
		f.SetLineWidth(0.3)
		f.Line(x0, top, x0, bottom)
		f.Line(x0, bottom, x0+plotW, bottom)
		f.SetTextColor(0, 0, 0)
	}
	// Groups are drawn page by page; each page's grid goes down first so bars cover it.
	y := axisTop + 2
	for i, t := range targets {
		if i > 0 && y+grpH+grpGap+8 > d.bottom() {
			d.newPage()
			axisTop = f.GetY()
			y = axisTop + 2
		}
		if y == axisTop+2 {
			n := 0
			for yy := y; i+n < len(targets) && (n == 0 || yy+grpH+grpGap+8 <= d.bottom()); n++ {
				yy += grpH + grpGap
			}
			drawAxis(axisTop, y+float64(n)*(grpH+grpGap)-grpGap/2)
		}
		d.font(fontSans, "B", 8.5)
		lines := d.wrap(t.Label, labelW-3)
		if len(lines) > 3 { // the table below carries the full label
			lines = append(lines[:2], d.fit(strings.Join(lines[2:], " "), labelW-3))
		}
		ty := y + grpH/2 - float64(len(lines))*3.8/2
		for k, l := range lines {
			f.SetXY(MarginMM, ty+float64(k)*3.8)
			f.CellFormat(labelW-3, 3.8, l, "", 0, "R", false, 0, "")
		}
		bars := []struct {
			c   [3]int
			n   int
			val time.Duration
		}{
			{colICMP50, t.ICMPSamples, t.ICMPP50},
			{colICMP95, t.ICMPSamples, t.ICMPP95},
			{colTCP50, t.TCPSamples, t.TCPP50},
			{colTCP95, t.TCPSamples, t.TCPP95},
		}
		d.font(fontSans, "", 7)
		for k, b := range bars {
			by := y + float64(k)*(barH+barGap)
			if b.n == 0 {
				f.SetTextColor(120, 120, 120)
				f.SetXY(x0+1, by)
				f.CellFormat(20, barH, "n/a", "", 0, "L", false, 0, "")
				f.SetTextColor(0, 0, 0)
				continue
			}
			w := ms(b.val) * scale
			f.SetFillColor(b.c[0], b.c[1], b.c[2])
			f.Rect(x0, by, w, barH, "F")
			f.SetXY(x0+w+1, by)
			f.CellFormat(valueW, barH, fmtMS(b.val), "", 0, "L", false, 0, "")
		}
		y += grpH + grpGap
	}
	f.SetY(y + 6)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
