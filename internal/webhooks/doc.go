// Package webhooks is keel's outgoing webhooks (issue 27): the Standard
// Webhooks signing (sign.go), the mapping from the events keel records to the
// webhook types an app subscribes to and their payloads (events.go), the
// endpoint rules (the SSRF guard in the dialer's Control hook, address
// checks at registration: dial.go), and one delivery attempt (deliver.go).
// The job engine (internal/jobs) fans an event out to its endpoints and
// retries each delivery; the store (db/*/webhooks.go) keeps the endpoints
// and their deliveries. It holds no state of its own.
package webhooks
