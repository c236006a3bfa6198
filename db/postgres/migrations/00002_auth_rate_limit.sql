-- +goose Up
-- The cluster-wide AUTH_RATE_LIMIT: one row per client key holding its
-- theoretical arrival time (GCRA, the token bucket as one timestamp), so one
-- statement admits or refuses a request whichever replica answers it.
-- UNLOGGED: rate-limit state need not survive a crash of the database, and
-- skipping the WAL keeps each login's extra write cheap.
CREATE UNLOGGED TABLE auth_rate_limit (
    key text        PRIMARY KEY,
    tat timestamptz NOT NULL
);

-- +goose Down
DROP TABLE auth_rate_limit;
