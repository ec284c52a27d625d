-- appointment_outcomes: pre-booked appointments per branch business day, location, service
-- and staff member.
--   scheduled     appointments whose (final) start falls on the day
--   booked        appointments created (booked) on the day, whenever they start
--   completed     scheduled ones whose status is served or completed
--   no_show       status no_show, or still confirmed with no arrival once
--                 no_show_grace_minutes have passed since the start (as of the run)
--   cancelled     status cancelled; by_client unless cancelled_by is staff;
--   cancelled_late  by the client, less than late_cancel_hours before the start
--   *_rate        the count over scheduled
--   lead_time_*   hours from booking to start, over scheduled appointments
--   handle_*      minutes from started_at to served_at, over those with both
WITH days AS (
  SELECT business_date, location_id, service_id, staff_id FROM appointment_facts
  UNION
  SELECT booked_date, location_id, service_id, staff_id FROM appointment_facts
  WHERE booked_date IS NOT NULL
),
scheduled AS (
  SELECT
    business_date, location_id, service_id, staff_id,
    count(*) AS scheduled,
    sum(CASE WHEN is_completed THEN 1 ELSE 0 END) AS completed,
    sum(CASE WHEN is_no_show THEN 1 ELSE 0 END) AS no_show,
    sum(CASE WHEN is_cancelled THEN 1 ELSE 0 END) AS cancelled,
    sum(CASE WHEN is_cancelled_by_client THEN 1 ELSE 0 END) AS cancelled_by_client,
    sum(CASE WHEN is_cancelled_by_staff THEN 1 ELSE 0 END) AS cancelled_by_staff,
    sum(CASE WHEN is_cancelled_late THEN 1 ELSE 0 END) AS cancelled_late,
    avg(lead_time_hours) AS lead_time_hours_mean,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY lead_time_hours) AS lead_time_hours_p50,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY lead_time_hours) AS lead_time_hours_p90,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY handle_minutes) AS handle_minutes_p50,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY handle_minutes) AS handle_minutes_p90
  FROM appointment_facts
  GROUP BY business_date, location_id, service_id, staff_id
),
booked AS (
  SELECT booked_date AS business_date, location_id, service_id, staff_id, count(*) AS booked
  FROM appointment_facts
  GROUP BY booked_date, location_id, service_id, staff_id
)
SELECT
  d.business_date,
  d.location_id,
  l.name AS location_name,
  d.service_id,
  s.name AS service_name,
  d.staff_id,
  trim(concat(u.first_name, ' ', u.last_name)) AS staff_name,
  coalesce(b.booked, 0) AS booked,
  coalesce(c.scheduled, 0) AS scheduled,
  coalesce(c.completed, 0) AS completed,
  coalesce(c.no_show, 0) AS no_show,
  coalesce(c.cancelled, 0) AS cancelled,
  coalesce(c.cancelled_by_client, 0) AS cancelled_by_client,
  coalesce(c.cancelled_by_staff, 0) AS cancelled_by_staff,
  coalesce(c.cancelled_late, 0) AS cancelled_late,
  CAST(c.completed AS DOUBLE) / nullif(c.scheduled, 0) AS completion_rate,
  CAST(c.no_show AS DOUBLE) / nullif(c.scheduled, 0) AS no_show_rate,
  CAST(c.cancelled AS DOUBLE) / nullif(c.scheduled, 0) AS cancellation_rate,
  c.lead_time_hours_mean,
  c.lead_time_hours_p50,
  c.lead_time_hours_p90,
  c.handle_minutes_p50,
  c.handle_minutes_p90
FROM days AS d
LEFT JOIN scheduled AS c
  ON c.business_date = d.business_date
  AND (c.location_id IS NOT DISTINCT FROM d.location_id)
  AND (c.service_id IS NOT DISTINCT FROM d.service_id)
  AND (c.staff_id IS NOT DISTINCT FROM d.staff_id)
LEFT JOIN booked AS b
  ON b.business_date = d.business_date
  AND (b.location_id IS NOT DISTINCT FROM d.location_id)
  AND (b.service_id IS NOT DISTINCT FROM d.service_id)
  AND (b.staff_id IS NOT DISTINCT FROM d.staff_id)
LEFT JOIN locations_current AS l ON l.id = d.location_id
LEFT JOIN services_current AS s ON s.id = d.service_id
LEFT JOIN users_current AS u ON u.id = d.staff_id
ORDER BY d.business_date, d.location_id, d.service_id, d.staff_id NULLS FIRST
