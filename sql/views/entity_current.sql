-- <entity>_current: the latest version of every record of one entity, defined once for
-- all eight. Latest means the newest `source_updated_at`, then the newest `received_at`
-- (a backfill that saw the same version after a webhook wins, which changes nothing),
-- then the greatest `event_id` so that the choice never depends on file order. A version
-- that carries only an id (a webhook whose data had no attributes, so neither
-- `created_at` nor `updated_at`) loses to any full version, so such a skeleton never
-- hides the record it points at.
SELECT * EXCLUDE (version_rank)
FROM (
  SELECT
    *,
    row_number() OVER (
      PARTITION BY id
      ORDER BY
        CASE WHEN created_at IS NULL AND updated_at IS NULL THEN 1 ELSE 0 END,
        source_updated_at DESC NULLS LAST,
        received_at DESC,
        event_id DESC
    ) AS version_rank
  FROM ${entity}
) AS ranked
WHERE version_rank = 1
