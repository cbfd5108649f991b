#!/usr/bin/python3
"""Validates a LesionKit measurement report against its JSON Schema and, when given, checks that
the CSV table reads back cleanly the way a pandas.read_csv user would see it: one header of unique
names, one row per lesion with as many fields, numbers that parse, and the same figures as the JSON.

usage: check_report.py SCHEMA REPORT.json [TABLE.csv]
Exit 0 when valid; 1 with the reason on stderr otherwise."""
import csv
import json
import math
import sys

import jsonschema

TEXT_COLUMNS = {"timepoint", "name", "kind", "intensity_unit", "recist_sections", "measurability_category", "volume_path", "mask_path"}
BOOL_COLUMNS = {"lymph_node", "measurable"}


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def main(argv):
    if len(argv) not in (3, 4):
        fail(__doc__)
    with open(argv[1]) as f:
        schema = json.load(f)
    with open(argv[2]) as f:
        report = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    try:
        jsonschema.validate(report, schema, cls=jsonschema.Draft7Validator)
    except jsonschema.ValidationError as e:
        fail(f"{argv[2]} does not match the schema: {e.message} at {list(e.absolute_path)}")
    if len(argv) == 3:
        print(f"{argv[2]}: valid, {len(report['lesions'])} lesion(s)")
        return
    with open(argv[3], newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    if len(set(header)) != len(header):
        fail("CSV header has duplicate names")
    if len(body) != len(report["lesions"]):
        fail(f"CSV has {len(body)} rows, the JSON {len(report['lesions'])} lesions")
    for number, row in enumerate(body):
        if len(row) != len(header):
            fail(f"CSV row {number + 1} has {len(row)} fields, the header {len(header)}")
        record = dict(zip(header, row))
        for name, value in record.items():
            if name in TEXT_COLUMNS or value == "":
                continue
            if name in BOOL_COLUMNS:
                if value not in ("true", "false"):
                    fail(f"CSV row {number + 1}: {name} = {value!r} is not true/false")
                continue
            try:
                if not math.isfinite(float(value)):
                    fail(f"CSV row {number + 1}: {name} = {value!r} is not finite")
            except ValueError:
                fail(f"CSV row {number + 1}: {name} = {value!r} is not a number")
        lesion = report["lesions"][number]
        pairs = [("label", lesion["label"]), ("volume_ml", lesion["volumes"]["voxelVolumeMl"]),
                 ("long_axis_mm", lesion["recist"]["longAxisMm"]), ("short_axis_mm", lesion["recist"]["shortAxisMm"]),
                 ("max_diameter_3d_mm", lesion["maxDiameter3dMm"]), ("extent_si_mm", lesion["extentsMm"]["si"])]
        for name, expected in pairs:
            if not math.isclose(float(record[name]), expected, rel_tol=1e-8, abs_tol=1e-9):
                fail(f"CSV row {number + 1}: {name} = {record[name]} but the JSON says {expected}")
        if record["name"] != lesion["name"] or record["timepoint"] != report["timepoint"]:
            fail(f"CSV row {number + 1}: name/timepoint differ from the JSON")
    print(f"{argv[2]}: valid, {len(report['lesions'])} lesion(s); {argv[3]}: {len(body)} row(s) x {len(header)} columns")


if __name__ == "__main__":
    main(sys.argv)
