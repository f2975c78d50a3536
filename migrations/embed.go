// Package migrations holds varde's SQL schema as numbered migrations (NNN_name.up.sql), embedded so the
// binary carries the exact schema it was built for and can tell when a database is newer than itself.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.up.sql
var FS embed.FS
