-- staff_performance: per branch business day and staff member, what they were booked for
-- and what they served. Appointments count by their staff_id, walk-ins by the staff
-- member who called them (staff_id).
--   appointments          scheduled on the day with them
--   appointments_completed, appointments_no_show  of those
--   walk_ins_served       served walk-ins they called
--   served                appointments_completed + walk_ins_served
--   handle_minutes_total  minutes from started_at to served_at over both kinds
--   handle_minutes_p50    the median of those durations
WITH work AS (
  SELECT business_date, location_id, staff_id, 1 AS appointment,
    CASE WHEN is_completed THEN 1 ELSE 0 END AS appointment_completed,
    CASE WHEN is_no_show THEN 1 ELSE 0 END AS appointment_no_show,
    0 AS walk_in_served,
    handle_minutes
  FROM appointment_facts
  WHERE staff_id IS NOT NULL
  UNION ALL
  SELECT business_date, location_id, staff_id, 0, 0, 0,
    CASE WHEN is_served THEN 1 ELSE 0 END,
    handle_seconds / 60.0
  FROM walk_in_facts
  WHERE staff_id IS NOT NULL
)
SELECT
  w.business_date,
  w.staff_id,
  trim(concat(max(u.first_name), ' ', max(u.last_name))) AS staff_name,
  min(w.location_id) AS location_id,
  sum(w.appointment) AS appointments,
  sum(w.appointment_completed) AS appointments_completed,
  sum(w.appointment_no_show) AS appointments_no_show,
  sum(w.walk_in_served) AS walk_ins_served,
  sum(w.appointment_completed) + sum(w.walk_in_served) AS served,
  sum(w.handle_minutes) AS handle_minutes_total,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY w.handle_minutes) AS handle_minutes_p50
FROM work AS w
LEFT JOIN users_current AS u ON u.id = w.staff_id
GROUP BY w.business_date, w.staff_id
ORDER BY w.business_date, w.staff_id
