package api

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/varde/varde/storage"
	"github.com/varde/varde/token"
)

// AuditList is a page of audits, newest first.
type AuditList struct {
	Items []storage.Audit `json:"items"`
	// NextCursor, when set, is the cursor query parameter that gives the next page.
	NextCursor string `json:"next_cursor,omitempty"`
}

type listAuditsInput struct {
	Status        string    `query:"status" enum:"running,succeeded,partial,failed,interrupted" doc:"Only audits in this status."`
	Kind          string    `query:"kind" enum:"quarterly,ad_hoc,sales_comparison" doc:"Only audits of this kind."`
	Organisation  string    `query:"organisation" maxLength:"200" doc:"Only audits of this organisation."`
	StartedAfter  time.Time `query:"started_after" doc:"Only audits started at or after this time (RFC 3339)."`
	StartedBefore time.Time `query:"started_before" doc:"Only audits started before this time (RFC 3339)."`
	Limit         int       `query:"limit" minimum:"1" maximum:"500" default:"50" doc:"Audits per page."`
	Cursor        string    `query:"cursor" maxLength:"64" doc:"next_cursor of the previous page."`
}

type auditListOutput struct {
	Link string `header:"Link" doc:"The next page, as rel=next, when there is one."`
	Body AuditList
}

type auditIDInput struct {
	ID int64 `path:"id" minimum:"1" doc:"Audit ID."`
}

type auditOutput struct{ Body storage.Audit }

type stepsOutput struct{ Body []storage.Step }

// cursorPrefix keeps cursors opaque to clients (they are not IDs to compute with) and versioned.
const cursorPrefix = "a1:"

func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(id, 10)))
}

func decodeCursor(s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(b), cursorPrefix); ok {
			if id, err := strconv.ParseInt(rest, 10, 64); err == nil && id > 0 {
				return id, nil
			}
		}
	}
	return 0, errors.New("not a cursor this API gave out")
}

func (s *Server) registerAudits() {
	read := token.AuditsRead
	huma.Register(s.api, op("list-audits", http.MethodGet, "/v1/audits", "List audits, newest first", "audits", read),
		func(ctx context.Context, in *listAuditsInput) (*auditListOutput, error) {
			f := storage.AuditFilter{Status: storage.AuditStatus(in.Status), Kind: in.Kind, Organisation: in.Organisation, Limit: in.Limit}
			if !in.StartedAfter.IsZero() {
				f.StartedAfter = &in.StartedAfter
			}
			if !in.StartedBefore.IsZero() {
				f.StartedBefore = &in.StartedBefore
			}
			if in.Cursor != "" {
				id, err := decodeCursor(in.Cursor)
				if err != nil {
					return nil, huma.Error422UnprocessableEntity("bad cursor",
						&huma.ErrorDetail{Location: "query.cursor", Message: err.Error(), Value: in.Cursor})
				}
				f.BeforeID = id
			}
			audits, more, err := s.cfg.Store.AuditPage(ctx, f)
			if err != nil {
				return nil, s.fail(ctx, "list audits", err)
			}
			out := &auditListOutput{Body: AuditList{Items: audits}}
			if more {
				out.Body.NextCursor = encodeCursor(audits[len(audits)-1].ID)
				out.Link = fmt.Sprintf(`<%s>; rel="next"`, nextLink(in, out.Body.NextCursor))
			}
			return out, nil
		})

	huma.Register(s.api, op("get-audit", http.MethodGet, "/v1/audits/{id}", "Get an audit", "audits", read),
		func(ctx context.Context, in *auditIDInput) (*auditOutput, error) {
			a, err := s.cfg.Store.GetAudit(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, "get audit", err)
			}
			return &auditOutput{Body: a}, nil
		})

	huma.Register(s.api, op("list-audit-steps", http.MethodGet, "/v1/audits/{id}/steps", "An audit's steps and their outcomes", "audits", read),
		func(ctx context.Context, in *auditIDInput) (*stepsOutput, error) {
			if _, err := s.cfg.Store.GetAudit(ctx, in.ID); err != nil {
				return nil, s.fail(ctx, "audit steps", err)
			}
			st, err := s.cfg.Store.Steps(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, "audit steps", err)
			}
			if st == nil {
				st = []storage.Step{}
			}
			return &stepsOutput{Body: st}, nil
		})

	streamOp(s, "list-audit-findings", "/v1/audits/{id}/findings", "An audit's findings, in chain order", s.cfg.Store.EachFinding)
	streamOp(s, "list-audit-measurements", "/v1/audits/{id}/measurements", "An audit's measurements, each with every sample, in chain order", s.cfg.Store.EachMeasurement)
	streamOp(s, "list-audit-observations", "/v1/audits/{id}/observations", "An audit's GeoIP, cloud and DNS observations, in chain order", s.cfg.Store.EachObservation)
	streamOp(s, "list-audit-check-results", "/v1/audits/{id}/check-results", "An audit's guest check results, in chain order", s.cfg.Store.EachCheckResult)
}

// nextLink is the URL of the next page: the same filters, the new cursor.
func nextLink(in *listAuditsInput, cursor string) string {
	q := []string{"limit=" + strconv.Itoa(in.Limit), "cursor=" + cursor}
	for k, v := range map[string]string{"status": in.Status, "kind": in.Kind, "organisation": in.Organisation} {
		if v != "" {
			q = append(q, k+"="+url.QueryEscape(v))
		}
	}
	if !in.StartedAfter.IsZero() {
		q = append(q, "started_after="+url.QueryEscape(in.StartedAfter.Format(time.RFC3339Nano)))
	}
	if !in.StartedBefore.IsZero() {
		q = append(q, "started_before="+url.QueryEscape(in.StartedBefore.Format(time.RFC3339Nano)))
	}
	return "/v1/audits?" + strings.Join(q, "&")
}

// streamOp registers a GET that streams an audit's rows as one JSON array, written as the rows come
// from Postgres. A missing audit is a 404 problem, since nothing has been written yet; a failure after
// the first byte aborts the connection, so a client never takes a cut-off array for a whole one.
func streamOp[T any](s *Server, id, path, summary string, each func(context.Context, int64, func(*T) error) error) {
	o := op(id, http.MethodGet, path, summary, "audits", token.AuditsRead)
	o.Description += " The array is streamed as it is read from the database; a response cut short by a server error ends without its closing bracket."
	o.Responses = map[string]*huma.Response{
		"200": {Description: "The rows, as a JSON array.", Content: map[string]*huma.MediaType{
			"application/json": {Schema: s.api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[[]T](), true, "")},
		}},
	}
	o.Errors = append(o.Errors, http.StatusNotFound)
	huma.Register(s.api, o, func(ctx context.Context, in *auditIDInput) (*huma.StreamResponse, error) {
		return &huma.StreamResponse{Body: func(hc huma.Context) {
			var (
				w       *bufio.Writer
				enc     *json.Encoder
				started bool
			)
			start := func() {
				hc.SetHeader("Content-Type", "application/json")
				hc.SetStatus(http.StatusOK)
				w = bufio.NewWriterSize(hc.BodyWriter(), 32<<10)
				enc = json.NewEncoder(w)
				w.WriteByte('[')
				started = true
			}
			n := 0
			err := each(hc.Context(), in.ID, func(row *T) error {
				if !started {
					start()
				}
				if n > 0 {
					w.WriteByte(',')
				}
				n++
				return enc.Encode(row)
			})
			if err != nil {
				if !started {
					se := s.fail(hc.Context(), id, err).(huma.StatusError)
					huma.WriteErr(s.api, hc, se.GetStatus(), se.Error())
					return
				}
				s.cfg.Logger.Error(id+": stream cut short", "audit_id", in.ID, "rows", n, "err", err)
				panic(http.ErrAbortHandler)
			}
			if !started {
				start()
			}
			w.WriteString("]\n")
			if err := w.Flush(); err != nil {
				s.cfg.Logger.Info(id+": client went away", "audit_id", in.ID, "err", err)
			}
		}}, nil
	})
}
