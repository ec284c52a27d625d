-- <entity>_history: every distinct version of every record of one entity, once. A version
-- is an id with its `source_updated_at`; the webhook and the backfill seeing one version,
-- and a sender's retries, collapse into the first copy received. Rows without an
-- `source_updated_at` are told apart by their payload hash instead.
SELECT * EXCLUDE (copy_rank)
FROM (
  SELECT
    *,
    row_number() OVER (
      PARTITION BY id, coalesce(CAST(source_updated_at AS VARCHAR), payload_sha256)
      ORDER BY received_at, event_id
    ) AS copy_rank
  FROM ${entity}
) AS copies
WHERE copy_rank = 1
