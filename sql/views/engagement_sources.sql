-- engagement_sources: for every appointment and walk-in id ever landed, whether a webhook,
-- the backfill, or both delivered a version of it.
SELECT
  'appointments' AS entity,
  id,
  bool_or(source = 'webhook') AS by_webhook,
  bool_or(source = 'backfill') AS by_backfill
FROM appointments
GROUP BY id
UNION ALL
SELECT
  'queue_appointments' AS entity,
  id,
  bool_or(source = 'webhook') AS by_webhook,
  bool_or(source = 'backfill') AS by_backfill
FROM queue_appointments
GROUP BY id
