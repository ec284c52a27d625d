-- intake_outcomes: how appointments end by intake answer, per service, question and
-- answer, over all landed data. completion_rate is completed over appointments.
SELECT
  service_id,
  max(service_name) AS service_name,
  question_id,
  answer,
  count(*) AS appointments,
  sum(CASE WHEN is_completed THEN 1 ELSE 0 END) AS completed,
  sum(CASE WHEN is_no_show THEN 1 ELSE 0 END) AS no_show,
  sum(CASE WHEN is_cancelled THEN 1 ELSE 0 END) AS cancelled,
  CAST(sum(CASE WHEN is_completed THEN 1 ELSE 0 END) AS DOUBLE) / count(*) AS completion_rate
FROM appointment_answers
GROUP BY service_id, question_id, answer
ORDER BY service_id, question_id, answer
