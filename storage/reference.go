package storage

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Vantage is where measurements are taken from.
type Vantage struct {
	ID        int64    `db:"id" json:"id"`
	Name      string   `db:"name" json:"name"`
	City      string   `db:"city" json:"city"`
	Latitude  *float64 `db:"latitude" json:"latitude,omitempty"`
	Longitude *float64 `db:"longitude" json:"longitude,omitempty"`
	Network   string   `db:"network" json:"network"`
	ASN       *int64   `db:"asn" json:"asn,omitempty"`
}

// PutVantage records a version of a vantage: the stored version with exactly these values, or a new one.
// Reference data is versioned and never overwritten (the tables are append-only); the latest version of
// a name is the current one, and an audit's header entry copies what it relied on into its chain.
func (s *Store) PutVantage(ctx context.Context, v Vantage) (Vantage, error) {
	rows, err := s.pool.Query(ctx, `WITH found AS (
			SELECT id, name, city, latitude, longitude, network, asn FROM vantages
			WHERE name = $1 AND city = $2 AND latitude IS NOT DISTINCT FROM $3 AND longitude IS NOT DISTINCT FROM $4
				AND network = $5 AND asn IS NOT DISTINCT FROM $6
			ORDER BY id DESC LIMIT 1),
		ins AS (
			INSERT INTO vantages (name, city, latitude, longitude, network, asn)
			SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM found)
			RETURNING id, name, city, latitude, longitude, network, asn)
		SELECT * FROM found UNION ALL SELECT * FROM ins`,
		v.Name, v.City, v.Latitude, v.Longitude, v.Network, v.ASN)
	if err != nil {
		return Vantage{}, fmt.Errorf("vantage %q: %w", v.Name, err)
	}
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Vantage])
	if err != nil {
		return Vantage{}, fmt.Errorf("vantage %q: %w", v.Name, err)
	}
	return out, nil
}

// Vantages lists the current (latest) version of each vantage, by name.
func (s *Store) Vantages(ctx context.Context) ([]Vantage, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (name) id, name, city, latitude, longitude, network, asn
		FROM vantages ORDER BY name, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("vantages: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[Vantage])
}

// Target is what a latency probe measures.
type Target struct {
	ID    int64  `db:"id" json:"id"`
	Name  string `db:"name" json:"name"`
	Host  string `db:"host" json:"host"`
	Port  *int32 `db:"port" json:"port,omitempty"`
	Label string `db:"label" json:"label"`
}

// PutTarget records a version of a target, as PutVantage does.
func (s *Store) PutTarget(ctx context.Context, t Target) (Target, error) {
	rows, err := s.pool.Query(ctx, `WITH found AS (
			SELECT id, name, host, port, label FROM targets
			WHERE name = $1 AND host = $2 AND port IS NOT DISTINCT FROM $3 AND label = $4
			ORDER BY id DESC LIMIT 1),
		ins AS (
			INSERT INTO targets (name, host, port, label) SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM found)
			RETURNING id, name, host, port, label)
		SELECT * FROM found UNION ALL SELECT * FROM ins`, t.Name, t.Host, t.Port, t.Label)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %w", t.Name, err)
	}
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Target])
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %w", t.Name, err)
	}
	return out, nil
}

// DataStore is a place where personal data lives, as the inventory declares it.
type DataStore struct {
	ID                int64  `db:"id" json:"id"`
	Name              string `db:"name" json:"name"`
	Kind              string `db:"kind" json:"kind"`
	Location          string `db:"location" json:"location"`
	Purpose           string `db:"purpose" json:"purpose"`
	DataCategory      string `db:"data_category" json:"data_category"`
	Role              string `db:"role" json:"role"`
	TransferMechanism string `db:"transfer_mechanism" json:"transfer_mechanism"`
	TransferReference string `db:"transfer_reference" json:"transfer_reference"`
}

// PutDataStore records a version of a data store, as PutVantage does.
func (s *Store) PutDataStore(ctx context.Context, d DataStore) (DataStore, error) {
	rows, err := s.pool.Query(ctx, `WITH found AS (
			SELECT id, name, kind, location, purpose, data_category, role, transfer_mechanism, transfer_reference
			FROM data_stores WHERE name = $1 AND kind = $2 AND location = $3 AND purpose = $4 AND data_category = $5
				AND role = $6 AND transfer_mechanism = $7 AND transfer_reference = $8
			ORDER BY id DESC LIMIT 1),
		ins AS (
			INSERT INTO data_stores (name, kind, location, purpose, data_category, role, transfer_mechanism, transfer_reference)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE NOT EXISTS (SELECT 1 FROM found)
			RETURNING id, name, kind, location, purpose, data_category, role, transfer_mechanism, transfer_reference)
		SELECT * FROM found UNION ALL SELECT * FROM ins`,
		d.Name, d.Kind, d.Location, d.Purpose, d.DataCategory, d.Role, d.TransferMechanism, d.TransferReference)
	if err != nil {
		return DataStore{}, fmt.Errorf("data store %q: %w", d.Name, err)
	}
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[DataStore])
	if err != nil {
		return DataStore{}, fmt.Errorf("data store %q: %w", d.Name, err)
	}
	return out, nil
}
