package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/varde/varde"
	"github.com/varde/varde/reports/sign"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/token"
)

type reportIDInput struct {
	ID int64 `path:"id" minimum:"1" doc:"Report ID."`
}

type reportsOutput struct{ Body []storage.Report }

type pdfOutput struct {
	ContentType        string `header:"Content-Type"`
	ContentDisposition string `header:"Content-Disposition"`
	Digest             string `header:"Repr-Digest" doc:"RFC 9530 sha-256 of the PDF, as recorded when it was signed."`
	Body               []byte `contentType:"application/pdf"`
}

// ReportVerification is what checking a stored report found.
type ReportVerification struct {
	ReportID int64 `json:"report_id"`
	// Valid: the file is the one recorded (same SHA-256) and every signature in it is valid and trusted.
	Valid bool `json:"valid"`
	// SHA256Matches: the file on disk has the SHA-256 recorded when the report was made.
	SHA256Matches bool   `json:"sha256_matches"`
	SHA256        string `json:"sha256"`
	Level         string `json:"level" doc:"The lowest PAdES level of the file's signatures."`
	// Validation is the signature validator's report (varde report verify --json).
	Validation *sign.Report `json:"validation"`
}

type reportVerifyOutput struct{ Body ReportVerification }

// EvidenceVerification is what recomputing an audit's hash chain found.
type EvidenceVerification struct {
	AuditID int64  `json:"audit_id"`
	Holds   bool   `json:"holds" doc:"The chain recomputed from the stored rows matches the audit's recorded head."`
	Rows    int64  `json:"rows"`
	Head    string `json:"head,omitempty" doc:"Hex SHA-256 of the last row, as recomputed."`
	Form    int    `json:"canonical_form"`
	Broken  string `json:"broken,omitempty" doc:"The first row that does not match, when the chain is broken."`
}

type evidenceVerifyOutput struct{ Body EvidenceVerification }

func (s *Server) registerReports() {
	o := op("list-audit-reports", http.MethodGet, "/v1/audits/{id}/reports", "An audit's signed reports", "reports", token.ReportsRead)
	huma.Register(s.api, o, func(ctx context.Context, in *auditIDInput) (*reportsOutput, error) {
		if _, err := s.cfg.Store.GetAudit(ctx, in.ID); err != nil {
			return nil, s.fail(ctx, "reports", err)
		}
		rs, err := s.cfg.Store.Reports(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, "reports", err)
		}
		if rs == nil {
			rs = []storage.Report{}
		}
		return &reportsOutput{Body: rs}, nil
	})

	o = op("get-report-pdf", http.MethodGet, "/v1/reports/{id}/pdf", "Download a signed report", "reports", token.ReportsRead)
	o.Errors = append(o.Errors, http.StatusNotFound)
	huma.Register(s.api, o, func(ctx context.Context, in *reportIDInput) (*pdfOutput, error) {
		r, pdf, err := s.readReport(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(pdf)
		return &pdfOutput{ContentType: "application/pdf", Body: pdf,
			ContentDisposition: fmt.Sprintf(`attachment; filename="varde-audit-%d-%s.pdf"`, r.AuditID, r.Kind),
			Digest:             "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"}, nil
	})

	o = op("verify-report", http.MethodPost, "/v1/reports/{id}/verify", "Verify a stored report's signatures and digest", "reports", token.ReportsRead)
	o.Errors = append(o.Errors, http.StatusNotFound)
	huma.Register(s.api, o, func(ctx context.Context, in *reportIDInput) (*reportVerifyOutput, error) {
		r, pdf, err := s.readReport(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(pdf)
		rep, err := sign.Verify(pdf, s.cfg.ReportTrust)
		if rep == nil {
			return nil, s.fail(ctx, "verify report", err)
		}
		v := ReportVerification{ReportID: r.ID, SHA256: hex.EncodeToString(sum[:]), Validation: rep,
			SHA256Matches: hex.EncodeToString(sum[:]) == r.SHA256, Level: string(rep.Level())}
		v.Valid = v.SHA256Matches && err == nil && rep.Valid()
		return &reportVerifyOutput{Body: v}, nil
	})

	o = op("verify-evidence", http.MethodPost, "/v1/audits/{id}/evidence/verify", "Recompute an audit's evidence hash chain", "evidence", token.EvidenceRead)
	o.Errors = append(o.Errors, http.StatusNotFound)
	huma.Register(s.api, o, func(ctx context.Context, in *auditIDInput) (*evidenceVerifyOutput, error) {
		rep, err := s.cfg.Store.Verify(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, "verify evidence", err)
		}
		return &evidenceVerifyOutput{Body: EvidenceVerification{AuditID: rep.AuditID, Holds: rep.OK(), Rows: rep.Rows,
			Head: hex.EncodeToString(rep.Head), Form: rep.Form, Broken: rep.Bad}}, nil
	})

	o = op("export-evidence", http.MethodGet, "/v1/audits/{id}/evidence/export", "Export an audit's evidence bundle (as varde evidence export)", "evidence", token.EvidenceRead)
	o.Errors = append(o.Errors, http.StatusNotFound, http.StatusNotImplemented)
	huma.Register(s.api, o, func(ctx context.Context, in *auditIDInput) (*huma.StreamResponse, error) {
		if s.cfg.ExportEvidence == nil {
			return nil, huma.NewError(http.StatusNotImplemented, "this varde has no evidence exporter")
		}
		if _, err := s.cfg.Store.GetAudit(ctx, in.ID); err != nil {
			return nil, s.fail(ctx, "export evidence", err)
		}
		return &huma.StreamResponse{Body: func(hc huma.Context) {
			hc.SetHeader("Content-Type", "application/octet-stream")
			hc.SetHeader("Content-Disposition", fmt.Sprintf(`attachment; filename="varde-evidence-%d"`, in.ID))
			if err := s.cfg.ExportEvidence(hc.Context(), in.ID, hc.BodyWriter()); err != nil {
				s.cfg.Logger.Error("export evidence", "audit_id", in.ID, "err", err)
				panic(http.ErrAbortHandler)
			}
		}}, nil
	})
}

// readReport loads a report's record and its file, from the path recorded when it was made (replicas
// need the report directory on shared storage).
func (s *Server) readReport(ctx context.Context, id int64) (storage.Report, []byte, error) {
	r, err := s.cfg.Store.GetReport(ctx, id)
	if err != nil {
		return r, nil, s.fail(ctx, "report", err)
	}
	pdf, err := varde.ReadFile(r.Path, sign.PDFLimit)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil, huma.Error404NotFound(fmt.Sprintf("report %d: its file is not on this server", id))
	}
	if err != nil {
		return r, nil, s.fail(ctx, "report", err)
	}
	if len(pdf) == 0 || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		return r, nil, s.fail(ctx, "report", fmt.Errorf("report %d: %s is not a PDF", id, r.Path))
	}
	return r, pdf, nil
}
