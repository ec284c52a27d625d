"""Reads a landed store with DuckDB and pyarrow and prints what each saw, as JSON.

Usage: read_landing.py STORE_DIR

For every table folder it prints the row count, the column types and every row, with
values normalised the same way for both readers: instants as microseconds since the
epoch, dates as ISO text, bytes as hex.
"""

import datetime
import glob
import json
import os
import sys

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def normal(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        delta = value - EPOCH
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, list):
        return [normal(v) for v in value]
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    return value


def tables(root):
    found = {}
    for path in sorted(glob.glob(os.path.join(root, "landing", "*"))):
        found[os.path.basename(path)] = path
    if os.path.isdir(os.path.join(root, "quarantine")):
        found["quarantine"] = os.path.join(root, "quarantine")
    return found


def with_duckdb(folder):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    source = f"read_parquet('{folder}/*/*.parquet', hive_partitioning = true)"
    rel = con.sql(f"SELECT * FROM {source}")
    types = {name: str(kind) for name, kind in zip(rel.columns, rel.types)}
    rows = [dict(zip(rel.columns, map(normal, row))) for row in rel.fetchall()]
    return {"count": len(rows), "types": types, "rows": rows}


def with_pyarrow(folder):
    days = ds.partitioning(pa.schema([("date", pa.date32())]), flavor="hive")
    table = ds.dataset(folder, format="parquet", partitioning=days).to_table()
    types = {field.name: str(field.type) for field in table.schema}
    rows = [{k: normal(v) for k, v in row.items()} for row in table.to_pylist()]
    return {"count": table.num_rows, "types": types, "rows": rows}


def main():
    root = sys.argv[1]
    seen = {"duckdb": {}, "pyarrow": {}}
    for name, folder in tables(root).items():
        seen["duckdb"][name] = with_duckdb(folder)
        seen["pyarrow"][name] = with_pyarrow(folder)
    json.dump(seen, sys.stdout)


if __name__ == "__main__":
    main()
