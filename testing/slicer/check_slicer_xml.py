#!/usr/bin/python3
"""Checks every lesionkit sub-command's --xml the way Slicer's module description parser would.

Slicer is not installable here, so this encodes its rules: well-formed XML; only element and
attribute names the Slicer Execution Model knows; unique names, flags, long flags and indices;
valid channels; points and regions carry a coordinate system (and no visible RAS/LPS switch converts
them again); enumeration defaults are among their elements; and every flag in the XML is a real
option of the executable (its --help).

Usage: check_slicer_xml.py PATH/TO/lesionkit
       check_slicer_xml.py --single PATH/TO/LesionKitSegment [PATH/TO/LesionKitMeasure ...]

The second form checks single-command executables (Slicer CLI modules): `EXE --xml` and
`EXE --help`; their names must have no dot (Slicer takes what follows a dot as an extension) and
their XML must carry a category and a title.
"""
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

TOP_LEVEL = {"category", "title", "description", "version", "documentation-url", "license",
             "contributor", "acknowledgements", "parameters", "index"}
PARAMETER_TYPES = {"integer", "float", "double", "boolean", "string", "integer-vector",
                   "float-vector", "double-vector", "string-vector", "integer-enumeration",
                   "float-enumeration", "double-enumeration", "string-enumeration", "point",
                   "pointfile", "region", "file", "directory", "image", "geometry", "transform",
                   "table", "measurement"}
PARAMETER_CHILDREN = {"name", "flag", "longflag", "label", "description", "default", "channel",
                      "index", "element", "constraints", "hidden"}
ATTRIBUTES = {"multiple", "coordinateSystem", "type", "fileExtensions", "reference", "hidden"}
IMAGE_TYPES = {"scalar", "label", "tensor", "diffusion-weighted", "vector", "model"}
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check(command: str, xml_text: str, help_text: str) -> list:
    errors = []
    err = errors.append
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as e:
        return [f"{command}: not well-formed XML: {e}"]
    if root.tag != "executable":
        err(f"{command}: root element is <{root.tag}>, expected <executable>")
    for child in root:
        if child.tag not in TOP_LEVEL:
            err(f"{command}: unknown top-level element <{child.tag}>")
    for required in ("category", "title", "description", "version"):
        if root.find(required) is None or not (root.find(required).text or "").strip():
            err(f"{command}: missing or empty <{required}>")
    names, flags, longflags, indices = set(), set(), set(), set()
    converted_points = any(p.get("coordinateSystem") for p in root.iter() if p.tag in ("point", "region"))
    for group in root.findall("parameters"):
        if group.find("label") is None:
            err(f"{command}: a <parameters> group has no <label>")
        for p in group:
            if p.tag in ("label", "description"):
                continue
            if p.tag not in PARAMETER_TYPES:
                err(f"{command}: unknown parameter element <{p.tag}>")
                continue
            for attr in p.attrib:
                if attr not in ATTRIBUTES:
                    err(f"{command}: unknown attribute {attr} on <{p.tag}>")
            for c in p:
                if c.tag not in PARAMETER_CHILDREN:
                    err(f"{command}: unknown element <{c.tag}> in <{p.tag}>")
            name = (p.findtext("name") or "").strip()
            where = f"{command}: parameter '{name}'"
            if not NAME_RE.match(name):
                err(f"{where}: <name> must be a C identifier")
            if name in names:
                err(f"{where}: duplicate name")
            names.add(name)
            if not (p.findtext("label") or "").strip():
                err(f"{where}: missing <label>")
            if p.findtext("description") is None:
                err(f"{where}: missing <description>")
            channel = p.findtext("channel")
            if channel is not None and channel not in ("input", "output"):
                err(f"{where}: channel '{channel}' is neither input nor output")
            constraints = p.find("constraints")
            if constraints is not None:
                try:
                    low, high = float(constraints.findtext("minimum")), float(constraints.findtext("maximum"))
                    float(constraints.findtext("step"))
                    default = p.findtext("default")
                    if low > high or (default is not None and not low <= float(default) <= high):
                        err(f"{where}: <default> {default} outside <constraints> {low}..{high}")
                except (TypeError, ValueError):
                    err(f"{where}: <constraints> needs numeric <minimum>, <maximum> and <step>")
            if p.tag in ("image", "file", "directory", "table", "transform", "geometry") and channel is None:
                err(f"{where}: <{p.tag}> needs a channel")
            if p.tag == "image" and p.get("type", "scalar") not in IMAGE_TYPES:
                err(f"{where}: image type '{p.get('type')}' unknown")
            if p.tag in ("point", "region", "pointfile") and p.get("coordinateSystem") not in ("lps", "ras", "ijk"):
                err(f"{where}: <{p.tag}> must carry coordinateSystem")
            flag, longflag, index = p.findtext("flag"), p.findtext("longflag"), p.findtext("index")
            is_result = channel == "output" and p.tag not in ("image", "file", "directory", "table", "transform", "geometry", "pointfile")
            if index is not None:
                if flag or longflag:
                    err(f"{where}: has both an index and a flag")
                if index in indices:
                    err(f"{where}: duplicate index {index}")
                indices.add(index)
            elif not is_result and not (flag or longflag):
                err(f"{where}: an input needs a flag, a long flag or an index")
            if flag is not None:
                if not re.match(r"^-?[A-Za-z]$", flag):
                    err(f"{where}: flag '{flag}' must be one letter")
                if flag in flags:
                    err(f"{where}: duplicate flag {flag}")
                flags.add(flag)
                if (flag if flag.startswith("-") else "-" + flag) not in help_text:
                    err(f"{where}: flag {flag} is not an option in --help")
            if longflag is not None:
                if longflag in longflags:
                    err(f"{where}: duplicate long flag {longflag}")
                longflags.add(longflag)
                if not re.match(r"^--?[A-Za-z][A-Za-z0-9_-]*$", longflag):
                    err(f"{where}: long flag '{longflag}' malformed")
                if longflag not in help_text:
                    err(f"{where}: long flag {longflag} is not an option of the executable (--help)")
            if p.tag.endswith("-enumeration"):
                elements = [e.text for e in p.findall("element")]
                if not elements:
                    err(f"{where}: enumeration without <element>s")
                if p.findtext("default") is not None and p.findtext("default") not in elements:
                    err(f"{where}: default '{p.findtext('default')}' is not among {elements}")
            if p.tag == "boolean" and p.findtext("default") not in (None, "true", "false"):
                err(f"{where}: boolean default must be true or false")
            if (p.tag == "boolean" and p.get("hidden") != "true" and converted_points
                    and re.search(r"\b(RAS|LPS)\b", (p.findtext("label") or "") + " " + name, re.I)):
                err(f"{where}: a visible switch of the points' coordinate system; Slicer converts "
                    f"<point>/<region> to their coordinateSystem itself, ticking it would convert them twice "
                    f"(hide it: hidden=\"true\")")
    if not names:
        err(f"{command}: no parameters")
    return errors


def check_single(executables: list) -> int:
    """Checks each single-command executable (a Slicer CLI module)."""
    if not executables:
        print("--single needs at least one executable")
        return 1
    failed = 0
    for exe in executables:
        name = exe.replace("\\", "/").rsplit("/", 1)[-1]
        problems = []
        if "." in name:
            problems.append(f"{name}: Slicer CLI module names must not contain a dot")
        xml = subprocess.run([exe, "--xml"], capture_output=True, text=True)
        help_run = subprocess.run([exe, "--help"], capture_output=True, text=True)
        if xml.returncode != 0 or help_run.returncode != 0:
            problems.append(f"{name}: --xml exited {xml.returncode}, --help exited {help_run.returncode}: {xml.stderr}{help_run.stderr}")
        else:
            problems += check(name, xml.stdout, help_run.stdout)
            if "<filter-" in xml.stdout:
                problems.append(f"{name}: --xml output holds progress tags, Slicer would not parse it")
            try:
                root = ET.fromstring(xml.stdout)
                if not (root.findtext("category") or "").startswith("Quantification"):
                    problems.append(f"{name}: category '{root.findtext('category')}' is not under Quantification")
                if not (root.findtext("title") or "").startswith("LesionKit "):
                    problems.append(f"{name}: title '{root.findtext('title')}' does not start with 'LesionKit '")
            except ET.ParseError:
                pass  # reported by check()
        print(f"{name}: {'ok' if not problems else str(len(problems)) + ' problem(s)'}")
        for p in problems:
            print("  " + p)
        failed += bool(problems)
    print(f"{len(executables) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 1
    if sys.argv[1] == "--single":
        return check_single(sys.argv[2:])
    exe = sys.argv[1]
    listing = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    block = listing.split("Commands:", 1)[1].split("\n\n", 1)[0]
    commands = [line.split()[0] for line in block.strip().splitlines() if line.strip()]
    if not commands:
        print("no commands listed by --help")
        return 1
    failures = []
    for c in commands:
        xml_text = subprocess.run([exe, c, "--xml"], capture_output=True, text=True, check=True).stdout
        help_text = subprocess.run([exe, c, "--help"], capture_output=True, text=True, check=True).stdout
        problems = check(c, xml_text, help_text)
        print(f"{c}: {'ok' if not problems else str(len(problems)) + ' problem(s)'}")
        failures += problems
    for f in failures:
        print("  " + f)
    print(f"{len(commands) - len({f.split(':')[0] for f in failures})} passed, {len({f.split(':')[0] for f in failures})} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
