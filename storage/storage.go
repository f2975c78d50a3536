// Package storage keeps varde's evidence in PostgreSQL: audits, measurements with every sample,
// GeoIP observations, guest check results, findings and reports. Evidence rows are append-only and each
// audit's rows form a hash chain that Verify recomputes, so evidence cannot be edited quietly.
//
// pgx stays behind this package: callers see domain records and errors such as ErrNotFound, never pgx
// types.
package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config says how to reach the database.
type Config struct {
	// DatabaseURL is a libpq URL or key=value string. Required.
	DatabaseURL string
	// Logger gets debug messages. Default: discard.
	Logger *slog.Logger
	// MaxConns bounds the pool. Default 4.
	MaxConns int32
	// ConnectTimeout bounds the first connection. Default 10s.
	ConnectTimeout time.Duration
	// SkipSchemaCheck opens a database whose schema differs from this binary's (for `db migrate` and
	// `db status`). Everything else refuses such a database.
	SkipSchemaCheck bool
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 4
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
}

func (c *Config) validate() error {
	if strings.TrimSpace(c.DatabaseURL) == "" {
		return errors.New("no database URL: set DATABASE_URL or --database-url")
	}
	return nil
}

// Errors callers can test for with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrSchemaTooNew  = errors.New("database schema is newer than this binary")
	ErrSchemaBehind  = errors.New("database schema is older than this binary")
	ErrAuditFinished = errors.New("audit is finished")
)

// Store is a handle on the evidence database.
type Store struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
}

// Open connects, checks that the server answers and, unless SkipSchemaCheck is set, that its schema is
// the one this binary was built for.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %s", oneLine(err))
	}
	pcfg.MaxConns = cfg.MaxConns
	pcfg.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("cannot connect to the database %s: %s", describe(pcfg), oneLine(err))
	}
	s := &Store{pool: pool, logger: cfg.Logger}
	if !cfg.SkipSchemaCheck {
		if err := s.CheckSchema(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close releases the pool.
func (s *Store) Close() { s.pool.Close() }

func describe(c *pgxpool.Config) string {
	cc := c.ConnConfig
	return fmt.Sprintf("%q on %s:%d as %s", cc.Database, cc.Host, cc.Port, cc.User)
}

// oneLine flattens pgx's multi-line connection errors (one line per address tried) for a CLI message.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// notFound translates pgx's no-rows into the domain's not-found at this boundary.
func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return err
}
