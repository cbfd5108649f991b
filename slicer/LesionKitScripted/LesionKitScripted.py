"""LesionKit scripted module for 3D Slicer: one panel to segment and measure a lesion from a seed.

Pick a volume, place a seed (a markups point list), pick the lesion kind and press Apply: the
LesionKitSegment CLI module makes the mask (shown as a label map over the volume), the
LesionKitMeasure CLI module measures it, and the results fill a table.

The logic that builds the CLI parameters and reads the return parameters is plain Python
(LesionKitParameterLogic, build_cli_parameters, parse_return_parameters) and is tested without
Slicer (Testing/test_lesionkit_scripted_logic.py). slicer, qt, ctk and vtk are imported only inside
the Slicer code paths (module, widget, Slicer logic).
"""

import math

SEGMENT_MODULE = "LesionKitSegment"
MEASURE_MODULE = "LesionKitMeasure"

#: Kinds offered in the panel; must be among the `--kind` elements of LesionKitSegment.
LESION_KINDS = ("soft-tissue", "lytic")
MODALITIES = ("auto", "ct", "mr")
#: Parameters declared multiple="true": one flag per value.
REPEATED_PARAMETERS = ("seed", "label", "lesion")

#: Return parameters shown in the results table: (CLI module, name, label, unit).
RESULT_ROWS = (
    (SEGMENT_MODULE, "voxelCount", "Voxels", ""),
    (SEGMENT_MODULE, "volumeMl", "Volume", "mL"),
    (MEASURE_MODULE, "longAxisMm", "RECIST long axis", "mm"),
    (MEASURE_MODULE, "shortAxisMm", "RECIST short axis", "mm"),
    (MEASURE_MODULE, "maxDiameter3dMm", "3D max diameter", "mm"),
)


def _check_point(point):
    if len(point) != 3:
        raise ValueError(f"a seed needs 3 coordinates (LPS mm), got {len(point)}: {point!r}")
    values = [float(v) for v in point]
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"seed {point!r} has a coordinate that is not a finite number")
    return values


def ras_to_lps(point):
    """Slicer's world coordinates are RAS; the CLI modules take LPS (x and y negated)."""
    x, y, z = _check_point(point)
    return [-x, -y, z]


def build_cli_parameters(volume_node_id, seeds_lps, kind="soft-tissue", output_mask_node_id=None,
                         modality="auto", max_diameter_mm=100.0):
    """Parameters for slicer.cli.run(LesionKitSegment, ...) as a dict (names as in the module's XML).

    seeds_lps: one or more points (x, y, z) in LPS millimetres. Slicer turns the list into
    repeated `--seed x,y,z` arguments; the XML declares coordinateSystem="lps", so the point list
    values are given in LPS here.
    """
    if not volume_node_id:
        raise ValueError("pick a volume")
    if kind not in LESION_KINDS:
        raise ValueError(f"unknown lesion kind '{kind}': one of {', '.join(LESION_KINDS)}")
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality '{modality}': one of {', '.join(MODALITIES)}")
    seeds = [_check_point(p) for p in (seeds_lps or [])]
    if not seeds:
        raise ValueError("place at least one seed point inside the lesion")
    if not (float(max_diameter_mm) > 0):
        raise ValueError(f"the largest diameter must be positive, got {max_diameter_mm}")
    params = {
        "volume": volume_node_id,
        "kind": kind,
        "seed": seeds,
        "modality": modality,
        "maxDiameterMm": float(max_diameter_mm),
    }
    if output_mask_node_id:
        params["output"] = output_mask_node_id
    return params


def build_measure_parameters(volume_node_id, mask_node_id, output_json, kind="soft-tissue"):
    """Parameters for LesionKitMeasure on the mask made by LesionKitSegment (its lesion is label 1)."""
    if not volume_node_id or not mask_node_id:
        raise ValueError("measuring needs a volume and a mask")
    if not output_json:
        raise ValueError("measuring needs a JSON report file")
    lesion_kind = "lytic-bone" if kind == "lytic" else "soft-tissue"
    return {
        "volume": volume_node_id,
        "mask": mask_node_id,
        "output": str(output_json),
        "label": [1],
        "lesion": [f"1:{lesion_kind}:lesion"],
    }


def cli_arguments(parameters, positional=("volume",)):
    """The command line Slicer would build from `parameters` (flags first, then positionals).

    For documentation and for running the modules outside Slicer; names map to long flags the way
    LesionKit's parameter tables do (maxDiameterMm -> --max-diameter-mm).
    """
    def long_flag(name):
        return "--" + "".join("-" + c.lower() if c.isupper() else c for c in name)

    def text(v):
        if isinstance(v, (list, tuple)):
            return ",".join(f"{float(c):g}" for c in v)
        return f"{v:g}" if isinstance(v, float) else str(v)

    args = []
    for name, value in parameters.items():
        if name in positional:
            continue
        repeated = value if name in REPEATED_PARAMETERS else [value]
        for v in repeated:
            if isinstance(v, bool):
                if v:
                    args.append(long_flag(name))
            else:
                args += [long_flag(name), text(v)]
    args += [str(parameters[p]) for p in positional if p in parameters]
    return args


def parse_return_parameters(text):
    """Reads a --returnparameterfile ("name = value" lines) into a dict of numbers or strings.

    Blank lines are skipped; a line without '=' raises ValueError naming it.
    """
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if "=" not in line:
            raise ValueError(f"return parameters line {number} has no '=': {line!r}")
        name, value = (part.strip() for part in line.split("=", 1))
        if not name:
            raise ValueError(f"return parameters line {number} has no name: {line!r}")
        values[name] = _number_or_text(value)
    return values


def _number_or_text(value):
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def result_rows(segment_results, measure_results):
    """Rows (label, value text) for the results table from both modules' return parameters."""
    sources = {SEGMENT_MODULE: segment_results or {}, MEASURE_MODULE: measure_results or {}}
    rows = []
    for module, name, label, unit in RESULT_ROWS:
        if name not in sources[module]:
            continue
        value = sources[module][name]
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        rows.append((label, f"{text} {unit}".strip()))
    return rows


class LesionKitParameterLogic:
    """Plain-Python state of the panel: what the user picked, turned into CLI parameters."""

    def __init__(self):
        self.volume_node_id = None
        self.seeds_ras = []
        self.kind = "soft-tissue"
        self.modality = "auto"
        self.max_diameter_mm = 100.0

    def segment_parameters(self, output_mask_node_id=None):
        seeds_lps = [ras_to_lps(p) for p in self.seeds_ras]
        return build_cli_parameters(self.volume_node_id, seeds_lps, self.kind, output_mask_node_id,
                                    self.modality, self.max_diameter_mm)


# --------------------------------------------------------------------------------------------
# Slicer code paths: everything below imports slicer/qt only when Slicer loads the module.
# --------------------------------------------------------------------------------------------

try:
    from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                               ScriptedLoadableModuleWidget)
except ImportError:  # plain Python (tests): the classes below are never instantiated
    ScriptedLoadableModule = ScriptedLoadableModuleWidget = ScriptedLoadableModuleLogic = object


class LesionKitScripted(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        parent.title = "LesionKit Lesion"
        parent.categories = ["Quantification.LesionKit"]
        parent.dependencies = []
        parent.contributors = ["LesionKit developers"]
        parent.helpText = ("Segment a lesion from a seed point with LesionKitSegment and measure it with "
                           "LesionKitMeasure (volume, RECIST 1.1 axes, 3D diameter).")
        parent.acknowledgementText = "Built on ITK, VTK, DCMTK and OpenCV."


class LesionKitScriptedWidget(ScriptedLoadableModuleWidget):
    def setup(self):
        import ctk
        import qt
        import slicer

        ScriptedLoadableModuleWidget.setup(self)
        self.parameters = LesionKitParameterLogic()
        box = ctk.ctkCollapsibleButton()
        box.text = "Lesion"
        self.layout.addWidget(box)
        form = qt.QFormLayout(box)

        self.volumeSelector = slicer.qMRMLNodeComboBox()
        self.volumeSelector.nodeTypes = ["vtkMRMLScalarVolumeNode"]
        self.volumeSelector.noneEnabled = False
        self.volumeSelector.addEnabled = False
        self.volumeSelector.setMRMLScene(slicer.mrmlScene)
        form.addRow("Volume:", self.volumeSelector)

        self.seedSelector = slicer.qSlicerSimpleMarkupsWidget()
        self.seedSelector.setMRMLScene(slicer.mrmlScene)
        self.seedSelector.tableWidget().hide()
        self.seedSelector.defaultNodeColor = qt.QColor(255, 200, 0)
        form.addRow("Seed:", self.seedSelector)

        self.kindSelector = qt.QComboBox()
        self.kindSelector.addItems(list(LESION_KINDS))
        form.addRow("Kind:", self.kindSelector)

        self.applyButton = qt.QPushButton("Segment and measure")
        form.addRow(self.applyButton)
        self.statusLabel = qt.QLabel("")
        self.statusLabel.wordWrap = True
        form.addRow(self.statusLabel)

        self.resultsTable = qt.QTableWidget(0, 2)
        self.resultsTable.setHorizontalHeaderLabels(["Result", "Value"])
        self.resultsTable.horizontalHeader().setStretchLastSection(True)
        form.addRow(self.resultsTable)
        self.layout.addStretch(1)
        self.applyButton.connect("clicked(bool)", self.onApply)

    def _seeds_ras(self):
        node = self.seedSelector.currentNode()
        if node is None:
            return []
        points = []
        for i in range(node.GetNumberOfControlPoints()):
            p = [0.0, 0.0, 0.0]
            node.GetNthControlPointPositionWorld(i, p)
            points.append(p)
        return points

    def onApply(self):
        import qt
        import slicer

        volume = self.volumeSelector.currentNode()
        self.parameters.volume_node_id = volume.GetID() if volume else None
        self.parameters.seeds_ras = self._seeds_ras()
        self.parameters.kind = self.kindSelector.currentText
        try:
            with slicer.util.tryWithErrorDisplay("LesionKit failed", waitCursor=True):
                segment, measure = LesionKitScriptedLogic().run(self.parameters)
                rows = result_rows(segment, measure)
                self.resultsTable.setRowCount(len(rows))
                for r, (label, value) in enumerate(rows):
                    self.resultsTable.setItem(r, 0, qt.QTableWidgetItem(label))
                    self.resultsTable.setItem(r, 1, qt.QTableWidgetItem(value))
                self.statusLabel.text = "done"
        except ValueError as e:
            self.statusLabel.text = str(e)


class LesionKitScriptedLogic(ScriptedLoadableModuleLogic):
    """Runs the two CLI modules and shows the mask over the volume."""

    def run(self, parameter_logic):
        import os
        import tempfile

        import slicer

        mask = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "LesionKit mask")
        segment_params = parameter_logic.segment_parameters(mask.GetID())
        # Point list parameters take a markups node; repeated --seed values come from its points.
        seeds = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "LesionKit seeds (LPS)")
        seeds.SetHideFromEditors(True)
        for p in parameter_logic.seeds_ras:
            seeds.AddControlPoint(p)
        segment_params["seed"] = seeds.GetID()
        segment_node = slicer.cli.runSync(getattr(slicer.modules, SEGMENT_MODULE.lower()), None, segment_params)
        slicer.mrmlScene.RemoveNode(seeds)
        if segment_node.GetStatus() & segment_node.ErrorsMask:
            raise RuntimeError(segment_node.GetErrorText())
        segment_results = _cli_node_results(segment_node, ("voxelCount", "volumeMl"))

        report = os.path.join(tempfile.mkdtemp(prefix="lesionkit-"), "report.json")
        measure_params = build_measure_parameters(parameter_logic.volume_node_id, mask.GetID(), report,
                                                  parameter_logic.kind)
        measure_node = slicer.cli.runSync(getattr(slicer.modules, MEASURE_MODULE.lower()), None, measure_params)
        if measure_node.GetStatus() & measure_node.ErrorsMask:
            raise RuntimeError(measure_node.GetErrorText())
        measure_results = _cli_node_results(measure_node, ("longAxisMm", "shortAxisMm", "maxDiameter3dMm"))

        slicer.util.setSliceViewerLayers(background=parameter_logic.volume_node_id, label=mask.GetID())
        return segment_results, measure_results


def _cli_node_results(cli_node, names):
    """Return parameters of a finished CLI node, parsed like a return parameter file."""
    text = "\n".join(f"{n} = {cli_node.GetParameterAsString(n)}" for n in names)
    return parse_return_parameters(text)
