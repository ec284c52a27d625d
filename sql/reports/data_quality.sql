-- data_quality: per branch business day and entity (appointments, queue_appointments), how
-- the records reached the lake and whether their lifecycle makes sense.
--   records             records of the day in their current state
--   webhook_only        records no backfill has delivered (yet)
--   backfill_only       records no webhook delivered
--   both                records delivered by both
--   missing_timestamps  a status without the instant it implies: completed or served
--                       without started_at or served_at; cancelled without cancelled_at;
--                       a served walk-in without called_at
--   negative_durations  end before start, served before started, called before check-in,
--                       booked after the start
--   absurd_durations    handle time over 8 hours, a walk-in wait over 12 hours
--   complete            no record of the day is webhook-only and none has a missing
--                       timestamp or a negative duration
WITH checks AS (
  SELECT
    'appointments' AS entity, f.business_date, f.id,
    CASE WHEN (f.is_completed AND (f.started_at IS NULL OR f.served_at IS NULL))
      OR (f.is_cancelled AND f.cancelled_at IS NULL) THEN 1 ELSE 0 END AS missing,
    CASE WHEN f.end_at < f.start_at OR f.served_at < f.started_at
      OR f.lead_time_hours < 0 THEN 1 ELSE 0 END AS negative,
    CASE WHEN f.handle_minutes > 480 THEN 1 ELSE 0 END AS absurd
  FROM appointment_facts AS f
  UNION ALL
  SELECT
    'queue_appointments', w.business_date, w.id,
    CASE WHEN (w.is_served AND (w.called_at IS NULL OR w.started_at IS NULL OR w.served_at IS NULL))
      OR (w.status = 'cancelled' AND w.cancelled_at IS NULL) THEN 1 ELSE 0 END,
    CASE WHEN w.wait_seconds < 0 OR w.handle_seconds < 0 THEN 1 ELSE 0 END,
    CASE WHEN w.handle_seconds > 8 * 3600 OR w.wait_seconds > 12 * 3600 THEN 1 ELSE 0 END
  FROM walk_in_facts AS w
)
SELECT
  c.business_date,
  c.entity,
  count(*) AS records,
  sum(CASE WHEN s.by_webhook AND NOT s.by_backfill THEN 1 ELSE 0 END) AS webhook_only,
  sum(CASE WHEN s.by_backfill AND NOT s.by_webhook THEN 1 ELSE 0 END) AS backfill_only,
  sum(CASE WHEN s.by_webhook AND s.by_backfill THEN 1 ELSE 0 END) AS both,
  sum(c.missing) AS missing_timestamps,
  sum(c.negative) AS negative_durations,
  sum(c.absurd) AS absurd_durations,
  sum(CASE WHEN s.by_webhook AND NOT s.by_backfill THEN 1 ELSE 0 END) = 0
    AND sum(c.missing) = 0 AND sum(c.negative) = 0 AS complete
FROM checks AS c
JOIN engagement_sources AS s ON s.entity = c.entity AND s.id = c.id
GROUP BY c.business_date, c.entity
ORDER BY c.business_date, c.entity
