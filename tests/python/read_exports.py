"""Reads every report export of a store with pyarrow and DuckDB, without casts, and checks
each file against its manifest. Prints one JSON object: per report, the rows each reader
saw, the column types and any problem found.

Usage: read_exports.py STORE_DIR
"""

import glob
import hashlib
import json
import os
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq


def portable(field_type):
    """Whether every reader (Spark, older pyarrow, Power BI) takes the type as it is."""
    if pa.types.is_string_view(field_type) or pa.types.is_large_string(field_type):
        return False
    if pa.types.is_timestamp(field_type):
        return field_type.unit == "us" and field_type.tz in (None, "UTC")
    if pa.types.is_list(field_type):
        return portable(field_type.value_type)
    return not pa.types.is_large_list(field_type)


def main(root):
    out = {}
    for manifest_path in sorted(glob.glob(os.path.join(root, "exports", "*", "manifest.json"))):
        manifest = json.load(open(manifest_path))
        name = manifest["report"]
        problems = []
        seen = {}
        for entry in manifest["files"]:
            path = os.path.join(root, entry["path"])
            data = open(path, "rb").read()
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                problems.append(f"{entry['path']}: sha256 differs from the manifest")
            if len(data) != entry["bytes"]:
                problems.append(f"{entry['path']}: size differs from the manifest")
            if entry["format"] == "parquet":
                table = pq.read_table(path)
                seen["pyarrow_rows"] = table.num_rows
                seen["types"] = {f.name: str(f.type) for f in table.schema}
                for f in table.schema:
                    if not portable(f.type):
                        problems.append(f"{name}.{f.name}: {f.type} is not portable")
                con = duckdb.connect()
                rows = con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0]
                con.execute(f"SELECT * FROM read_parquet('{path}')").fetchall()
                seen["duckdb_rows"] = rows
                seen["duckdb_types"] = {
                    r[0]: r[1]
                    for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
                }
            if entry["format"] == "csv":
                con = duckdb.connect()
                seen["csv_rows"] = con.execute(
                    f"SELECT count(*) FROM read_csv('{path}', header = true)"
                ).fetchone()[0]
            if entry["rows"] != seen.get("pyarrow_rows", entry["rows"]):
                problems.append(f"{entry['path']}: manifest says {entry['rows']} rows")
        out[name] = {"seen": seen, "problems": problems, "manifest_rows": manifest["files"][0]["rows"]}
    print(json.dumps(out, indent=1, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1])
