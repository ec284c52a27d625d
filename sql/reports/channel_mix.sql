-- channel_mix: appointments per month of their business day, booking channel
-- (booked_through), meeting method and booking shortcut. share is the row's appointments
-- over all appointments of the month; completion_rate is completed over appointments.
WITH monthly AS (
  SELECT
    CAST(date_trunc('month', business_date) AS DATE) AS month,
    coalesce(booked_through, 'unknown') AS booked_through,
    coalesce(meeting_method, 'unknown') AS meeting_method,
    booking_shortcut_id,
    count(*) AS appointments,
    sum(CASE WHEN is_completed THEN 1 ELSE 0 END) AS completed
  FROM appointment_facts
  WHERE business_date IS NOT NULL
  GROUP BY 1, 2, 3, 4
)
SELECT
  m.month,
  m.booked_through,
  m.meeting_method,
  m.booking_shortcut_id,
  b.name AS booking_shortcut_name,
  m.appointments,
  m.completed,
  CAST(m.completed AS DOUBLE) / m.appointments AS completion_rate,
  CAST(m.appointments AS DOUBLE) / sum(m.appointments) OVER (PARTITION BY m.month) AS share
FROM monthly AS m
LEFT JOIN booking_shortcuts_current AS b ON b.id = m.booking_shortcut_id
ORDER BY m.month, m.booked_through, m.meeting_method, m.booking_shortcut_id NULLS FIRST
