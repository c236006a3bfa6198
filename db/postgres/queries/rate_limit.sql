-- name: TakeRateToken :one
-- GCRA in one statement. The upsert moves the key's theoretical arrival
-- time (tat) one interval on when the request is admitted and returns 0;
-- when refused it changes nothing and the second branch returns how many
-- milliseconds the client must wait. Intervals are in milliseconds; now is
-- the replica's clock, so tests can inject one (replicas' clocks agree to
-- well within a rate limit's precision).
WITH admitted AS (
    INSERT INTO auth_rate_limit AS r (key, tat)
    VALUES (sqlc.arg(key), sqlc.arg(now)::timestamptz + make_interval(secs => sqlc.arg(interval_ms)::bigint / 1000.0))
    ON CONFLICT (key) DO UPDATE
    SET tat = greatest(r.tat, sqlc.arg(now)::timestamptz) + make_interval(secs => sqlc.arg(interval_ms)::bigint / 1000.0)
    WHERE r.tat - sqlc.arg(now)::timestamptz <= make_interval(secs => sqlc.arg(tolerance_ms)::bigint / 1000.0)
    RETURNING 0::bigint AS wait_ms
)
SELECT wait_ms FROM admitted
UNION ALL
-- A refusal always waits at least 1 ms: this branch reads the statement's
-- snapshot, which may predate the concurrent admissions that made the upsert
-- refuse, and a wait of 0 would read as admitted.
SELECT greatest(1, ceil(extract(epoch FROM r.tat - sqlc.arg(now)::timestamptz - make_interval(secs => sqlc.arg(tolerance_ms)::bigint / 1000.0)) * 1000))::bigint
FROM auth_rate_limit r
WHERE r.key = sqlc.arg(key) AND NOT EXISTS (SELECT 1 FROM admitted);

-- name: ReturnRateToken :exec
-- Gives back the interval a TakeRateToken added (a request that turned out
-- not to count). A tat moved behind now is as good as now (TakeRateToken
-- starts from greatest(tat, now)), so the bucket never exceeds its burst.
UPDATE auth_rate_limit SET tat = tat - make_interval(secs => sqlc.arg(interval_ms)::bigint / 1000.0)
WHERE key = sqlc.arg(key);

-- name: PruneRateLimits :execrows
-- A key whose tat has passed is as good as absent (TakeRateToken starts it
-- from now either way), so its row can go: this keeps the table as small as
-- the set of clients seen within the last interval or so.
DELETE FROM auth_rate_limit WHERE tat < sqlc.arg(now)::timestamptz;
