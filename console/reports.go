package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/varde/varde"
	"github.com/varde/varde/reports/sign"
	"github.com/varde/varde/storage"
)

// fileReports reads a report from the path its row records. Its sha256 must match the row's: a file
// changed or swapped on disk is refused, never served as the report.
type fileReports struct{}

func (fileReports) ReadReport(_ context.Context, r storage.Report) ([]byte, error) {
	b, err := varde.ReadFile(r.Path, sign.PDFLimit)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != r.SHA256 {
		return nil, fmt.Errorf("report %d: %s: %w", r.ID, r.Path, errReportChanged)
	}
	return b, nil
}

var errReportChanged = errors.New("the file does not match the sha256 its report row records")

type reportRow struct {
	storage.Report
	File     string
	Mark     mark
	Problem  string
	Result   *sign.Report
	Signer   string
	Level    sign.Level
	Problems []string
}

type reportsData struct {
	Audit   storage.Audit
	Reports []reportRow
}

func (h *Handler) reportsPage(w http.ResponseWriter, r *http.Request) {
	a, ok := h.requestedAudit(w, r)
	if !ok {
		return
	}
	ctx, id := r.Context(), a.ID
	rs, err := h.cfg.Evidence.Reports(ctx, id)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	l := localeFor(r)
	d := reportsData{Audit: a}
	for _, rep := range rs {
		row := reportRow{Report: rep, File: filepath.Base(rep.Path)}
		pdf, err := h.cfg.Reports.ReadReport(ctx, rep)
		switch {
		case errors.Is(err, errReportChanged):
			row.Mark, row.Problem = mark{"✖", "invalid", "bad"}, l.T("The PDF file does not match the sha256 its report row records.")
		case err != nil:
			row.Mark, row.Problem = mark{"?", "unknown", "unsure"}, l.Tf("The PDF file could not be read: %s", err)
		default:
			vr, err := sign.Verify(pdf, h.cfg.ReportTrust)
			if err != nil {
				row.Mark, row.Problem = mark{"✖", "invalid", "bad"}, err.Error()
				break
			}
			row.Result, row.Level, row.Problems = vr, vr.Level(), vr.Problems
			switch {
			case vr.Valid():
				row.Mark = mark{"✔", string(sign.StatusValid), "good"}
			case len(vr.Signatures) > 0 && vr.Signatures[0].Status == sign.StatusUntrusted:
				row.Mark = mark{"?", string(sign.StatusUntrusted), "warn"}
			default:
				row.Mark = mark{"✖", string(sign.StatusInvalid), "bad"}
			}
			for _, s := range vr.Signatures {
				if s.Kind == sign.KindSignature && row.Signer == "" {
					row.Signer = s.Signer
				}
				row.Problems = append(row.Problems, s.Problems...)
			}
		}
		d.Reports = append(d.Reports, row)
	}
	h.render(w, r, http.StatusOK, "reports", "Reports", d)
}

func (h *Handler) reportPDF(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		h.notFound(w, r)
		return
	}
	rep, err := h.cfg.Evidence.GetReport(r.Context(), id)
	if err != nil {
		h.notFoundOr500(w, r, err)
		return
	}
	pdf, err := h.cfg.Reports.ReadReport(r.Context(), rep)
	if err != nil {
		if errors.Is(err, errReportChanged) {
			h.errorPage(w, r, http.StatusConflict, localeFor(r).T("The PDF file does not match the sha256 its report row records."))
			return
		}
		h.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="varde-audit-%d-%s.pdf"`, rep.AuditID, rep.Kind))
	w.Header().Set("Content-Length", strconv.Itoa(len(pdf)))
	w.Header().Set("Cache-Control", "no-store")
	w.Write(pdf)
}
