-- walk_in_facts: one row per walk-in (queue appointment) in its current state, placed on
-- its branch's business day of check-in (`created_at`), with outcome flags and durations.
-- The wait is check-in to being called; a walk-in never called has no wait.
-- materialize
SELECT
  q.id,
  q.location_id,
  l.name AS location_name,
  q.service_id,
  s.name AS service_name,
  q.staff_id,
  q.preferred_staff_id,
  q.status,
  q.lang,
  q.booked_through,
  coalesce(q.timezone, l.timezone) AS timezone,
  coalesce(q.business_date, CAST(local_time(q.created_at, coalesce(q.timezone, l.timezone)) AS DATE)) AS business_date,
  local_time(q.created_at, coalesce(q.timezone, l.timezone)) AS checked_in_local,
  q.created_at,
  q.called_at,
  q.started_at,
  q.served_at,
  q.completed_at,
  q.cancelled_at,
  q.status IN ('served', 'completed') AS is_served,
  q.status IN (${abandoned_statuses}) AS is_abandoned,
  date_part('epoch', q.called_at) - date_part('epoch', q.created_at) AS wait_seconds,
  q.status IN ('served', 'completed')
    AND q.called_at <= q.created_at + INTERVAL '${sla_wait_minutes} minutes' AS is_within_sla,
  date_part('epoch', q.served_at) - date_part('epoch', q.started_at) AS handle_seconds
FROM queue_appointments_current AS q
LEFT JOIN locations_current AS l ON l.id = q.location_id
LEFT JOIN services_current AS s ON s.id = q.service_id
