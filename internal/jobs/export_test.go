package jobs

import (
	"database/sql"

	"github.com/riverqueue/river"
)

// What the tests (package jobs_test) may use beyond the API.

// RiverClient is the engine's River client, to insert a job kind directly
// or read the client's ID.
func (e *Engine) RiverClient() *river.Client[*sql.Tx] { return e.client }

// PeriodicOpts are the insert options of a periodic kind run every period.
var PeriodicOpts = periodicOpts

// SetPruneEventsBatch sets the batch of prune-events and
// prune-webhook-deliveries, smaller than their own so that a test sees
// several.
func (c *Config) SetPruneEventsBatch(n int) { c.pruneEventsBatch = n }
