package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/varde/varde/storage"
	"github.com/varde/varde/token"
)

// MaxTokenLifetime bounds a token's expiry: a token that never expires is a leak waiting to happen.
const MaxTokenLifetime = 2 * 366 * 24 * time.Hour

// NewToken asks for a token.
type NewToken struct {
	Name      string   `json:"name" minLength:"1" maxLength:"200" doc:"What the token is for, e.g. the system that uses it."`
	Scopes    []string `json:"scopes" minItems:"1" maxItems:"6" uniqueItems:"true" enum:"audits:read,audits:run,schedules:write,reports:read,evidence:read,tokens:admin"`
	ExpiresIn string   `json:"expires_in" format:"duration" doc:"How long the token lasts, as a Go duration such as 720h; at most two years." example:"2160h"`
}

// CreatedToken is a new token; Token is shown this once and never again.
type CreatedToken struct {
	storage.APIToken
	Token string `json:"token" doc:"The token. Only its SHA-256 is kept: store it now."`
}

type createTokenInput struct{ Body NewToken }
type createTokenOutput struct{ Body CreatedToken }
type tokensOutput struct{ Body []storage.APIToken }
type tokenIDInput struct {
	ID int64 `path:"id" minimum:"1" doc:"Token ID."`
}
type tokenOutput struct{ Body storage.APIToken }

// IssueToken makes a token, stores its digest and returns both: the one path by which the API and
// `varde token create` make tokens.
func IssueToken(ctx context.Context, st *storage.Store, name string, scopes []string, lifetime time.Duration, createdBy string, now time.Time) (CreatedToken, error) {
	ss, err := token.ParseScopes(scopes)
	if err != nil {
		return CreatedToken{}, fieldError{"scopes", err.Error()}
	}
	if lifetime <= 0 || lifetime > MaxTokenLifetime {
		return CreatedToken{}, fieldError{"expires_in", fmt.Sprintf("%s: want more than 0 and at most %s", lifetime, MaxTokenLifetime)}
	}
	raw, err := token.New(nil)
	if err != nil {
		return CreatedToken{}, err
	}
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = string(s)
	}
	t, err := st.CreateToken(ctx, storage.NewAPIToken{Name: name, SHA256: token.Digest(raw), Scopes: names,
		CreatedBy: createdBy, CreatedAt: now, ExpiresAt: now.Add(lifetime)})
	if err != nil {
		return CreatedToken{}, err
	}
	return CreatedToken{APIToken: t, Token: raw}, nil
}

// fieldError is a request field the API itself refuses.
type fieldError struct{ field, problem string }

func (e fieldError) Error() string { return e.field + ": " + e.problem }

func (s *Server) registerTokens() {
	o := op("create-token", http.MethodPost, "/v1/tokens", "Create a token", "tokens", token.TokensAdmin)
	o.DefaultStatus = http.StatusCreated
	o.Errors = append(o.Errors, http.StatusUnprocessableEntity)
	huma.Register(s.api, o, func(ctx context.Context, in *createTokenInput) (*createTokenOutput, error) {
		d, err := time.ParseDuration(in.Body.ExpiresIn)
		if err != nil {
			return nil, huma.Error422UnprocessableEntity("bad expiry",
				&huma.ErrorDetail{Location: "body.expires_in", Message: "want a duration such as 720h", Value: in.Body.ExpiresIn})
		}
		t, err := IssueToken(ctx, s.cfg.Store, in.Body.Name, in.Body.Scopes, d, actor(ctx), s.cfg.Now())
		if err != nil {
			return nil, s.fail(ctx, "create token", err)
		}
		s.cfg.Logger.Info("token created", "token_id", t.ID, "token_name", t.Name, "scopes", t.Scopes, "by", actor(ctx))
		return &createTokenOutput{Body: t}, nil
	})

	o = op("list-tokens", http.MethodGet, "/v1/tokens", "List tokens (never the tokens themselves)", "tokens", token.TokensAdmin)
	huma.Register(s.api, o, func(ctx context.Context, _ *struct{}) (*tokensOutput, error) {
		ts, err := s.cfg.Store.ListTokens(ctx)
		if err != nil {
			return nil, s.fail(ctx, "list tokens", err)
		}
		if ts == nil {
			ts = []storage.APIToken{}
		}
		return &tokensOutput{Body: ts}, nil
	})

	o = op("revoke-token", http.MethodPost, "/v1/tokens/{id}/revoke", "Revoke a token", "tokens", token.TokensAdmin)
	o.Errors = append(o.Errors, http.StatusNotFound, http.StatusConflict)
	huma.Register(s.api, o, func(ctx context.Context, in *tokenIDInput) (*tokenOutput, error) {
		t, err := s.cfg.Store.RevokeToken(ctx, in.ID, s.cfg.Now())
		if errors.Is(err, storage.ErrTokenRevoked) {
			return nil, huma.Error409Conflict(err.Error())
		}
		if err != nil {
			return nil, s.fail(ctx, "revoke token", err)
		}
		s.cfg.Logger.Info("token revoked", "token_id", t.ID, "token_name", t.Name, "by", actor(ctx))
		return &tokenOutput{Body: t}, nil
	})
}
