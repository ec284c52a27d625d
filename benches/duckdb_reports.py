"""Runs a DuckDB script made by benches/reports.rs: the project's views and reports over the
landed Parquet. Prints one line per report, `<name> <rows> rows`, as `coconut-lake report`
does, so the bench can compare the two.

Usage: duckdb_reports.py SCRIPT
"""

import sys

import duckdb


def main(path):
    con = duckdb.connect()
    report = None
    statement = []
    for line in open(path):
        if line.startswith("-- report "):
            report = line.split()[2]
            continue
        statement.append(line)
        if line.rstrip().endswith(";"):
            result = con.execute("".join(statement)).fetchall()
            statement = []
            if report is not None:
                rows = result[0][0] if result else 0
                print(f"{report} {rows} rows", flush=True)
                report = None


if __name__ == "__main__":
    main(sys.argv[1])
