package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// APIToken is a token of the service's API as the database knows it: never the token itself, only its
// SHA-256. The token package owns the format and the scope names.
type APIToken struct {
	ID         int64      `db:"id" json:"id"`
	Name       string     `db:"name" json:"name"`
	SHA256     []byte     `db:"sha256" json:"-"`
	Scopes     []string   `db:"scopes" json:"scopes"`
	CreatedBy  string     `db:"created_by" json:"created_by"`
	CreatedAt  time.Time  `db:"created_at" json:"created_at"`
	ExpiresAt  time.Time  `db:"expires_at" json:"expires_at"`
	RevokedAt  *time.Time `db:"revoked_at" json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `db:"last_used_at" json:"last_used_at,omitempty"`
}

// Usable reports whether the token may be used at now: neither revoked nor expired.
func (t APIToken) Usable(now time.Time) bool {
	return t.RevokedAt == nil && now.Before(t.ExpiresAt)
}

// NewAPIToken is what CreateToken stores.
type NewAPIToken struct {
	Name      string
	SHA256    []byte
	Scopes    []string
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ErrTokenRevoked: the token was revoked already.
var ErrTokenRevoked = errors.New("token is revoked already")

// CreateToken stores a token's digest with its scopes and expiry.
func (s *Store) CreateToken(ctx context.Context, t NewAPIToken) (APIToken, error) {
	if len(t.SHA256) != 32 {
		return APIToken{}, fmt.Errorf("create token %q: want a 32-byte SHA-256, got %d bytes", t.Name, len(t.SHA256))
	}
	rows, err := s.pool.Query(ctx, `INSERT INTO api_tokens (name, sha256, scopes, created_by, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
		t.Name, t.SHA256, t.Scopes, t.CreatedBy, pgTime(t.CreatedAt), pgTime(t.ExpiresAt))
	if err != nil {
		return APIToken{}, fmt.Errorf("create token %q: %w", t.Name, err)
	}
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[APIToken])
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23514" { // check_violation
			return APIToken{}, fmt.Errorf("create token %q: %s", t.Name, pe.Message)
		}
		return APIToken{}, fmt.Errorf("create token %q: %w", t.Name, err)
	}
	return out, nil
}

// TokenByDigest finds a token by its SHA-256, revoked and expired ones included; a digest that matches
// none is an error wrapping ErrNotFound.
func (s *Store) TokenByDigest(ctx context.Context, sum []byte) (APIToken, error) {
	rows, err := s.pool.Query(ctx, `SELECT * FROM api_tokens WHERE sha256 = $1`, sum)
	if err != nil {
		return APIToken{}, fmt.Errorf("look up token: %w", err)
	}
	t, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[APIToken])
	if err != nil {
		return APIToken{}, notFound(err, "token")
	}
	return t, nil
}

// Token returns one token by ID.
func (s *Store) Token(ctx context.Context, id int64) (APIToken, error) {
	rows, err := s.pool.Query(ctx, `SELECT * FROM api_tokens WHERE id = $1`, id)
	if err != nil {
		return APIToken{}, fmt.Errorf("token %d: %w", id, err)
	}
	t, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[APIToken])
	if err != nil {
		return APIToken{}, notFound(err, fmt.Sprintf("token %d", id))
	}
	return t, nil
}

// ListTokens returns every token, oldest first.
func (s *Store) ListTokens(ctx context.Context) ([]APIToken, error) {
	rows, err := s.pool.Query(ctx, `SELECT * FROM api_tokens ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[APIToken])
}

// RevokeToken revokes a token at time at. Revoking a revoked token is an error wrapping ErrTokenRevoked.
func (s *Store) RevokeToken(ctx context.Context, id int64, at time.Time) (APIToken, error) {
	rows, err := s.pool.Query(ctx, `UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING *`,
		id, pgTime(at))
	if err != nil {
		return APIToken{}, fmt.Errorf("revoke token %d: %w", id, err)
	}
	t, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[APIToken])
	if errors.Is(err, pgx.ErrNoRows) {
		if _, gerr := s.Token(ctx, id); gerr != nil {
			return APIToken{}, gerr
		}
		return APIToken{}, fmt.Errorf("revoke token %d: %w", id, ErrTokenRevoked)
	}
	if err != nil {
		return APIToken{}, fmt.Errorf("revoke token %d: %w", id, err)
	}
	return t, nil
}

// TouchToken records that a token was used at time at. It writes only when the stored time is older than
// every, so a busy token costs one write a minute rather than one a request.
func (s *Store) TouchToken(ctx context.Context, id int64, at time.Time, every time.Duration) error {
	_, err := s.pool.Exec(ctx, `UPDATE api_tokens SET last_used_at = $2
		WHERE id = $1 AND revoked_at IS NULL AND (last_used_at IS NULL OR last_used_at < $3)`,
		id, pgTime(at), pgTime(at.Add(-every)))
	if err != nil {
		return fmt.Errorf("token %d: record use: %w", id, err)
	}
	return nil
}
