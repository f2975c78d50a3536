package console

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/varde/varde/job"
	"github.com/varde/varde/reports"
	"github.com/varde/varde/storage"
)

// The latency comparison per vantage: the sales PDF's figures (job.SalesModels computes them with the
// PDF's own code) as an SVG bar chart in the PDF's colours, and as a table.

type chartRow struct {
	reports.SalesTarget
	ICMP50, ICMP95, TCP50, TCP95 string
}

type latencyChart struct {
	Model reports.SalesModel
	From  string
	SVG   template.HTML
	Rows  []chartRow
}

type latencyData struct {
	Audit  storage.Audit
	Charts []latencyChart
}

func (h *Handler) latencyPage(w http.ResponseWriter, r *http.Request) {
	a, ok := h.requestedAudit(w, r)
	if !ok {
		return
	}
	ctx, id := r.Context(), a.ID
	ms, err := h.cfg.Evidence.Measurements(ctx, id)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	steps, err := h.cfg.Evidence.Steps(ctx, id)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	models, err := job.SalesModels(a, ms, steps)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	l := localeFor(r)
	d := latencyData{Audit: a}
	for i, m := range models {
		c := latencyChart{Model: m, From: m.Vantage.Name}
		if m.Vantage.City != "" {
			c.From += " (" + m.Vantage.City + ")"
		}
		for _, t := range m.Targets {
			c.Rows = append(c.Rows, chartRow{SalesTarget: t,
				ICMP50: msOrNA(l, t.ICMPSamples, t.ICMPP50), ICMP95: msOrNA(l, t.ICMPSamples, t.ICMPP95),
				TCP50: msOrNA(l, t.TCPSamples, t.TCPP50), TCP95: msOrNA(l, t.TCPSamples, t.TCPP95)})
		}
		c.SVG = drawChart(l, i, c)
		d.Charts = append(d.Charts, c)
	}
	h.render(w, r, http.StatusOK, "latency", "Latency comparison", d)
}

func msOrNA(l locale, n int, d time.Duration) string {
	if n == 0 {
		return l.T("n/a")
	}
	return reports.FormatMS(d)
}

func rgb(c [3]int) string { return fmt.Sprintf("rgb(%d,%d,%d)", c[0], c[1], c[2]) }

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func drawChart(l locale, n int, c latencyChart) template.HTML {
	i50, i95, t50, t95 := reports.SalesChartColours()
	const (
		width  = 800.0
		labelW = 190.0
		valueW = 60.0
		barH   = 13.0
		barGap = 2.0
		grpGap = 16.0
		top    = 44.0
	)
	maxMS := 0.0
	for _, t := range c.Model.Targets {
		if t.ICMPSamples > 0 {
			maxMS = max(maxMS, msf(t.ICMPP95), msf(t.ICMPP50))
		}
		if t.TCPSamples > 0 {
			maxMS = max(maxMS, msf(t.TCPP95), msf(t.TCPP50))
		}
	}
	step := reports.NiceStep(maxMS)
	axisMax := math.Max(step, math.Ceil(maxMS/step)*step)
	plotW := width - labelW - valueW
	scale := plotW / axisMax
	grpH := 4*barH + 3*barGap
	height := top + float64(len(c.Model.Targets))*(grpH+grpGap) + 30
	var b strings.Builder
	tid := fmt.Sprintf("chart-%d-title", n)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="%s">`, width, height, tid)
	fmt.Fprintf(&b, `<title id="%s">%s — %s</title>`, tid,
		template.HTMLEscapeString(l.T("ICMP round-trip time and TCP handshake time, milliseconds (shorter is better)")),
		template.HTMLEscapeString(l.Tf("From %s", c.From)))
	// Legend.
	x := 0.0
	for _, it := range []struct {
		c [3]int
		s string
	}{{i50, "ICMP RTT p50"}, {i95, "ICMP RTT p95"}, {t50, "TCP handshake p50"}, {t95, "TCP handshake p95"}} {
		fmt.Fprintf(&b, `<rect x="%.1f" y="6" width="14" height="10" fill="%s"/><text x="%.1f" y="15" class="legend">%s</text>`,
			x, rgb(it.c), x+18, template.HTMLEscapeString(l.T(it.s)))
		x += 18 + float64(len([]rune(l.T(it.s))))*6.6 + 18
	}
	bottom := height - 24
	for v := 0.0; v <= axisMax+step/1000; v += step {
		gx := labelW + v*scale
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, gx, top-4, gx, bottom)
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, gx, bottom+14, strconv.FormatFloat(v, 'f', -1, 64))
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, labelW, top-4, labelW, bottom)
	y := top
	for _, t := range c.Model.Targets {
		// Long labels wrap, as in the PDF, rather than run off the left edge.
		lines := wrapWords(t.Label, 24)
		ly := y + grpH/2 + 4 - float64(len(lines)-1)*7
		fmt.Fprintf(&b, `<text class="target" text-anchor="end">`)
		for k, line := range lines {
			fmt.Fprintf(&b, `<tspan x="%.1f" y="%.1f">%s</tspan>`, labelW-8, ly+float64(k)*14, template.HTMLEscapeString(line))
		}
		b.WriteString(`</text>`)
		for k, bar := range []struct {
			c    [3]int
			n    int
			v    time.Duration
			name string
		}{{i50, t.ICMPSamples, t.ICMPP50, "ICMP RTT p50"}, {i95, t.ICMPSamples, t.ICMPP95, "ICMP RTT p95"},
			{t50, t.TCPSamples, t.TCPP50, "TCP handshake p50"}, {t95, t.TCPSamples, t.TCPP95, "TCP handshake p95"}} {
			by := y + float64(k)*(barH+barGap)
			if bar.n == 0 {
				fmt.Fprintf(&b, `<text class="na" x="%.1f" y="%.1f">%s</text>`, labelW+4, by+barH-3, template.HTMLEscapeString(l.T("n/a")))
				continue
			}
			w := msf(bar.v) * scale
			fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.2f" height="%.1f" fill="%s"><title>%s %s: %s ms</title></rect>`,
				labelW, by, w, barH, rgb(bar.c), template.HTMLEscapeString(t.Label), template.HTMLEscapeString(l.T(bar.name)), reports.FormatMS(bar.v))
			fmt.Fprintf(&b, `<text class="val" x="%.1f" y="%.1f">%s</text>`, labelW+w+4, by+barH-3, reports.FormatMS(bar.v))
		}
		y += grpH + grpGap
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// wrapWords breaks s into lines of at most n runes where it can, at spaces.
func wrapWords(s string, n int) []string {
	var lines []string
	cur := ""
	for _, w := range strings.Fields(s) {
		if cur != "" && len([]rune(cur))+1+len([]rune(w)) > n {
			lines = append(lines, cur)
			cur = w
			continue
		}
		if cur != "" {
			cur += " "
		}
		cur += w
	}
	return append(lines, cur)
}
