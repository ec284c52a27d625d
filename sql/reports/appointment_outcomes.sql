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
WITH counted AS (
  -- Each appointment counts on its business day as scheduled, and on the day it was
  -- booked as booked; one aggregation over both keeps a NULL key its own group.
  SELECT
    business_date, location_id, service_id, staff_id,
    0 AS booked, 1 AS scheduled,
    CASE WHEN is_completed THEN 1 ELSE 0 END AS completed,
    CASE WHEN is_no_show THEN 1 ELSE 0 END AS no_show,
    CASE WHEN is_cancelled THEN 1 ELSE 0 END AS cancelled,
    CASE WHEN is_cancelled_by_client THEN 1 ELSE 0 END AS cancelled_by_client,
    CASE WHEN is_cancelled_by_staff THEN 1 ELSE 0 END AS cancelled_by_staff,
    CASE WHEN is_cancelled_late THEN 1 ELSE 0 END AS cancelled_late,
    lead_time_hours,
    handle_minutes
  FROM appointment_facts
  UNION ALL
  SELECT
    booked_date, location_id, service_id, staff_id,
    1, 0, 0, 0, 0, 0, 0, 0,
    CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE)
  FROM appointment_facts
  WHERE booked_date IS NOT NULL
),
days AS (
  SELECT
    business_date, location_id, service_id, staff_id,
    sum(booked) AS booked,
    sum(scheduled) AS scheduled,
    sum(completed) AS completed,
    sum(no_show) AS no_show,
    sum(cancelled) AS cancelled,
    sum(cancelled_by_client) AS cancelled_by_client,
    sum(cancelled_by_staff) AS cancelled_by_staff,
    sum(cancelled_late) AS cancelled_late,
    avg(lead_time_hours) AS lead_time_hours_mean,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY lead_time_hours) AS lead_time_hours_p50,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY lead_time_hours) AS lead_time_hours_p90,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY handle_minutes) AS handle_minutes_p50,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY handle_minutes) AS handle_minutes_p90
  FROM counted
  GROUP BY business_date, location_id, service_id, staff_id
)
SELECT
  d.business_date,
  d.location_id,
  l.name AS location_name,
  d.service_id,
  s.name AS service_name,
  d.staff_id,
  trim(concat(u.first_name, ' ', u.last_name)) AS staff_name,
  d.booked,
  d.scheduled,
  d.completed,
  d.no_show,
  d.cancelled,
  d.cancelled_by_client,
  d.cancelled_by_staff,
  d.cancelled_late,
  CAST(d.completed AS DOUBLE) / nullif(d.scheduled, 0) AS completion_rate,
  CAST(d.no_show AS DOUBLE) / nullif(d.scheduled, 0) AS no_show_rate,
  CAST(d.cancelled AS DOUBLE) / nullif(d.scheduled, 0) AS cancellation_rate,
  d.lead_time_hours_mean,
  d.lead_time_hours_p50,
  d.lead_time_hours_p90,
  d.handle_minutes_p50,
  d.handle_minutes_p90
FROM days AS d
LEFT JOIN locations_current AS l ON l.id = d.location_id
LEFT JOIN services_current AS s ON s.id = d.service_id
LEFT JOIN users_current AS u ON u.id = d.staff_id
ORDER BY d.business_date, d.location_id, d.service_id, d.staff_id NULLS FIRST
