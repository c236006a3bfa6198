// Package db holds keel's SQL: the goose migrations, embedded in the binary and
// applied at start, and the query files sqlc turns into gen/db.
package db

import "embed"

// Migrations are the goose migrations in migrations/, in version order.
//
//go:embed migrations/*.sql
var Migrations embed.FS
