-- engagement_heatmap: engagement volume per location, local weekday and local hour, over
-- all landed data: appointments by their start, walk-ins by their check-in. weekday is
-- ISO (1 Monday .. 7 Sunday).
WITH engagements AS (
  SELECT location_id, start_local AS local_at, 1 AS appointment, 0 AS walk_in
  FROM appointment_facts
  WHERE start_local IS NOT NULL
  UNION ALL
  SELECT location_id, checked_in_local, 0, 1
  FROM walk_in_facts
  WHERE checked_in_local IS NOT NULL
)
SELECT
  e.location_id,
  max(l.name) AS location_name,
  CAST(date_part('isodow', e.local_at) AS BIGINT) AS weekday,
  CAST(date_part('hour', e.local_at) AS BIGINT) AS hour,
  sum(e.appointment) AS appointments,
  sum(e.walk_in) AS walk_ins,
  count(*) AS engagements
FROM engagements AS e
LEFT JOIN locations_current AS l ON l.id = e.location_id
GROUP BY e.location_id, 3, 4
ORDER BY e.location_id, weekday, hour
