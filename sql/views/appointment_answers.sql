-- appointment_answers: one row per intake answer of each current appointment, with the
-- appointment's service and outcome flags.
SELECT
  f.id AS appointment_id,
  f.service_id,
  f.service_name,
  f.business_date,
  f.is_completed,
  f.is_no_show,
  f.is_cancelled,
  answer['question_id'] AS question_id,
  answer['answer'] AS answer
FROM (
  SELECT *, unnest(answers) AS answer
  FROM appointment_facts
) AS f
