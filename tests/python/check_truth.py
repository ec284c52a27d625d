"""Reads the simulator's ground truth with pyarrow and DuckDB and recomputes its outcome
figures from the record tables in SQL, independently of the Rust code.

Usage: check_truth.py TRUTH_DIR

Prints a JSON object: rows per file (read by pyarrow), the column types DuckDB sees for
the date and timestamp columns, and the outcome rows whose figures differ from the SQL.
"""

import json
import os
import sys

import duckdb
import pyarrow.parquet as pq


def main():
    folder = sys.argv[1]
    rows = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".parquet"):
            rows[name[: -len(".parquet")]] = pq.read_table(os.path.join(folder, name)).num_rows
    con = duckdb.connect()
    path = lambda table: os.path.join(folder, f"{table}.parquet")
    types = {
        c[0]: c[1]
        for c in con.execute(f"DESCRIBE SELECT business_date, start_at FROM '{path('appointments')}'").fetchall()
    }
    recomputed = f"""
        WITH a AS (
            SELECT location_id, business_date,
                   count(*) AS appointments,
                   count(*) FILTER (status = 'completed') AS completed,
                   count(*) FILTER (status = 'no_show') AS no_show,
                   count(*) FILTER (status = 'cancelled') AS cancelled,
                   count(*) FILTER (status = 'cancelled' AND cancelled_by = 'client') AS cancelled_by_client,
                   count(*) FILTER (status = 'cancelled' AND cancelled_by = 'staff') AS cancelled_by_staff,
                   count(*) FILTER (status = 'cancelled' AND cancelled_by = 'client'
                                    AND start_at - cancelled_at < INTERVAL 24 HOUR) AS cancelled_late
            FROM '{path('appointments')}' GROUP BY ALL),
        w AS (
            SELECT location_id, business_date,
                   count(*) AS walk_ins,
                   count(*) FILTER (status = 'completed') AS walk_ins_served,
                   count(*) FILTER (status IN ('cancelled', 'removed', 'no_show')) AS walk_ins_abandoned,
                   median(epoch(called_at) - epoch(created_at)) FILTER (status = 'completed') AS wait_median_seconds,
                   max(epoch(called_at) - epoch(created_at)) FILTER (status = 'completed') AS wait_max_seconds,
                   count(*) FILTER (status = 'completed'
                                    AND called_at - created_at <= INTERVAL 15 MINUTE) AS served_within_sla
            FROM '{path('queue_appointments')}' GROUP BY ALL)
        SELECT location_id, business_date,
               coalesce(a.appointments, 0), coalesce(a.completed, 0), coalesce(a.no_show, 0),
               coalesce(a.cancelled, 0), coalesce(a.cancelled_by_client, 0),
               coalesce(a.cancelled_by_staff, 0), coalesce(a.cancelled_late, 0),
               coalesce(w.walk_ins, 0), coalesce(w.walk_ins_served, 0),
               coalesce(w.walk_ins_abandoned, 0), w.wait_median_seconds,
               w.wait_max_seconds, coalesce(w.served_within_sla, 0)
        FROM a FULL JOIN w USING (location_id, business_date)
    """
    expected = f"SELECT * FROM '{path('outcomes')}'"
    differ = con.execute(
        f"SELECT count(*) FROM (({recomputed}) EXCEPT ({expected})) "
        f"UNION ALL SELECT count(*) FROM (({expected}) EXCEPT ({recomputed}))"
    ).fetchall()
    json.dump({"rows": rows, "types": types, "differ": [d[0] for d in differ]}, sys.stdout)


if __name__ == "__main__":
    main()
