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

// PutVantage creates or updates a vantage by name. Vantages are reference data, not evidence: the
// coordinates a measurement relied on are also copied into the audit's config and findings.
func (s *Store) PutVantage(ctx context.Context, v Vantage) (Vantage, error) {
	rows, err := s.pool.Query(ctx, `INSERT INTO vantages (name, city, latitude, longitude, network, asn)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (name) DO UPDATE SET city = EXCLUDED.city, latitude = EXCLUDED.latitude,
			longitude = EXCLUDED.longitude, network = EXCLUDED.network, asn = EXCLUDED.asn
		RETURNING id, name, city, latitude, longitude, network, asn`,
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

// Vantages lists the known vantages by name.
func (s *Store) Vantages(ctx context.Context) ([]Vantage, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, city, latitude, longitude, network, asn FROM vantages ORDER BY name`)
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

// PutTarget creates or updates a target by name.
func (s *Store) PutTarget(ctx context.Context, t Target) (Target, error) {
	rows, err := s.pool.Query(ctx, `INSERT INTO targets (name, host, port, label) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, port = EXCLUDED.port, label = EXCLUDED.label
		RETURNING id, name, host, port, label`, t.Name, t.Host, t.Port, t.Label)
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

// PutDataStore creates or updates a data store by name.
func (s *Store) PutDataStore(ctx context.Context, d DataStore) (DataStore, error) {
	rows, err := s.pool.Query(ctx, `INSERT INTO data_stores (name, kind, location, purpose, data_category, role,
			transfer_mechanism, transfer_reference) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, location = EXCLUDED.location, purpose = EXCLUDED.purpose,
			data_category = EXCLUDED.data_category, role = EXCLUDED.role,
			transfer_mechanism = EXCLUDED.transfer_mechanism, transfer_reference = EXCLUDED.transfer_reference
		RETURNING id, name, kind, location, purpose, data_category, role, transfer_mechanism, transfer_reference`,
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
