-- walk_in_service: walk-ins (queue appointments) per branch business day of check-in,
-- location and service.
--   arrivals          check-ins on the day
--   served            status served or completed
--   abandoned         status in abandoned_statuses (they left without being served)
--   abandonment_rate  abandoned over arrivals
--   wait_*_seconds    check-in to being called, over served walk-ins; p50 and p90
--                     interpolate between neighbouring values
--   served_within_sla served walk-ins called within sla_wait_minutes of check-in;
--   sla_share         that over served
--   handle_*_seconds  started_at to served_at, over those with both
SELECT
  business_date,
  location_id,
  max(location_name) AS location_name,
  service_id,
  max(service_name) AS service_name,
  count(*) AS arrivals,
  sum(CASE WHEN is_served THEN 1 ELSE 0 END) AS served,
  sum(CASE WHEN is_abandoned THEN 1 ELSE 0 END) AS abandoned,
  CAST(sum(CASE WHEN is_abandoned THEN 1 ELSE 0 END) AS DOUBLE) / count(*) AS abandonment_rate,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY CASE WHEN is_served THEN wait_seconds END) AS wait_p50_seconds,
  percentile_cont(0.9) WITHIN GROUP (ORDER BY CASE WHEN is_served THEN wait_seconds END) AS wait_p90_seconds,
  max(CASE WHEN is_served THEN wait_seconds END) AS wait_max_seconds,
  sum(CASE WHEN is_within_sla THEN 1 ELSE 0 END) AS served_within_sla,
  CAST(sum(CASE WHEN is_within_sla THEN 1 ELSE 0 END) AS DOUBLE)
    / nullif(sum(CASE WHEN is_served THEN 1 ELSE 0 END), 0) AS sla_share,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY handle_seconds) AS handle_p50_seconds,
  percentile_cont(0.9) WITHIN GROUP (ORDER BY handle_seconds) AS handle_p90_seconds
FROM walk_in_facts
GROUP BY business_date, location_id, service_id
ORDER BY business_date, location_id, service_id
