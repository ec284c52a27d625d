-- appointment_facts: one row per appointment in its current state, placed on its branch's
-- business day, with the outcome flags and durations the reports count. Outcome rules
-- follow the [reports] parameters of the pipeline file.
-- materialize
SELECT
  a.id,
  a.location_id,
  l.name AS location_name,
  a.service_id,
  s.name AS service_name,
  a.staff_id,
  a.status,
  a.meeting_method,
  a.booked_through,
  a.booking_shortcut_id,
  coalesce(a.timezone, l.timezone) AS timezone,
  coalesce(a.business_date, CAST(local_time(a.start_at, coalesce(a.timezone, l.timezone)) AS DATE)) AS business_date,
  local_time(a.start_at, coalesce(a.timezone, l.timezone)) AS start_local,
  CAST(local_time(a.created_at, coalesce(a.timezone, l.timezone)) AS DATE) AS booked_date,
  a.start_at,
  a.end_at,
  a.created_at,
  a.arrived_at,
  a.started_at,
  a.served_at,
  a.completed_at,
  a.cancelled_at,
  a.cancelled_by,
  a.attendees,
  a.answers,
  a.status IN ('served', 'completed') AS is_completed,
  a.status = 'no_show'
    OR (a.status = 'confirmed' AND a.arrived_at IS NULL
        AND date_part('epoch', a.start_at) + ${no_show_grace_minutes} * 60 < ${as_of_epoch}) AS is_no_show,
  a.status = 'cancelled' AS is_cancelled,
  a.status = 'cancelled' AND coalesce(a.cancelled_by, 'client') <> 'staff' AS is_cancelled_by_client,
  a.status = 'cancelled' AND a.cancelled_by = 'staff' AS is_cancelled_by_staff,
  a.status = 'cancelled' AND coalesce(a.cancelled_by, 'client') <> 'staff'
    AND a.cancelled_at > a.start_at - INTERVAL '${late_cancel_hours} hours' AS is_cancelled_late,
  (date_part('epoch', a.start_at) - date_part('epoch', a.created_at)) / 3600.0 AS lead_time_hours,
  (date_part('epoch', a.served_at) - date_part('epoch', a.started_at)) / 60.0 AS handle_minutes
FROM appointments_current AS a
LEFT JOIN locations_current AS l ON l.id = a.location_id
LEFT JOIN services_current AS s ON s.id = a.service_id
