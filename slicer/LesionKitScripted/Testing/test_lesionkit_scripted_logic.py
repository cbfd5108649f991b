#!/usr/bin/python3
"""Unit tests of LesionKitScripted's plain-Python logic, without Slicer.

With LESIONKIT_BIN set (ctest sets it), the parameter names and flags are also checked against the
real CLI modules' --xml, so the panel cannot drift from the parameter tables.
"""
import os
import subprocess
import sys
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import LesionKitScripted as lk  # noqa: E402


class BuildCliParametersTest(unittest.TestCase):
    def test_seeds_kind_and_output(self):
        p = lk.build_cli_parameters("vtkMRMLScalarVolumeNode1", [(1, 2, 3), [4.5, "5", 6]], "lytic",
                                    "vtkMRMLLabelMapVolumeNode2", modality="ct", max_diameter_mm=60)
        self.assertEqual(p, {"volume": "vtkMRMLScalarVolumeNode1", "kind": "lytic",
                             "seed": [[1.0, 2.0, 3.0], [4.5, 5.0, 6.0]], "modality": "ct",
                             "maxDiameterMm": 60.0, "output": "vtkMRMLLabelMapVolumeNode2"})

    def test_no_output_node_leaves_output_out(self):
        self.assertNotIn("output", lk.build_cli_parameters("v1", [(0, 0, 0)]))

    def test_refuses_what_the_cli_would_refuse(self):
        with self.assertRaisesRegex(ValueError, "volume"):
            lk.build_cli_parameters(None, [(0, 0, 0)])
        with self.assertRaisesRegex(ValueError, "seed"):
            lk.build_cli_parameters("v1", [])
        with self.assertRaisesRegex(ValueError, "3 coordinates"):
            lk.build_cli_parameters("v1", [(1, 2)])
        with self.assertRaisesRegex(ValueError, "finite"):
            lk.build_cli_parameters("v1", [(1, float("nan"), 2)])
        with self.assertRaisesRegex(ValueError, "kind 'bone'"):
            lk.build_cli_parameters("v1", [(0, 0, 0)], kind="bone")
        with self.assertRaisesRegex(ValueError, "positive"):
            lk.build_cli_parameters("v1", [(0, 0, 0)], max_diameter_mm=0)

    def test_ras_seeds_become_lps(self):
        logic = lk.LesionKitParameterLogic()
        logic.volume_node_id = "v1"
        logic.seeds_ras = [(10.0, -20.0, 30.0)]
        self.assertEqual(logic.segment_parameters()["seed"], [[-10.0, 20.0, 30.0]])

    def test_measure_parameters_follow_the_kind(self):
        p = lk.build_measure_parameters("v1", "m1", "/tmp/r.json", kind="lytic")
        self.assertEqual(p["lesion"], ["1:lytic-bone:lesion"])
        self.assertEqual(p["label"], [1])
        with self.assertRaises(ValueError):
            lk.build_measure_parameters("v1", None, "/tmp/r.json")

    def test_command_line_in_slicer_order(self):
        p = lk.build_cli_parameters("ct.nrrd", [(1, 2, 3), (4.5, 5, 6)], output_mask_node_id="m.nrrd")
        self.assertEqual(lk.cli_arguments(p),
                         ["--kind", "soft-tissue", "--seed", "1,2,3", "--seed", "4.5,5,6", "--modality", "auto",
                          "--max-diameter-mm", "100", "--output", "m.nrrd", "ct.nrrd"])


class ParseReturnParametersTest(unittest.TestCase):
    def test_numbers_and_text(self):
        text = "volumeMl = 12.5\nvoxelCount = 1563\n\nstructuresCutOff = 0\nnote = a = b\n"
        self.assertEqual(lk.parse_return_parameters(text),
                         {"volumeMl": 12.5, "voxelCount": 1563, "structuresCutOff": 0, "note": "a = b"})

    def test_exponent_and_negative(self):
        self.assertEqual(lk.parse_return_parameters("a = 1e-05\nb = -3"), {"a": 1e-05, "b": -3})

    def test_malformed_line_is_named(self):
        with self.assertRaisesRegex(ValueError, "line 2"):
            lk.parse_return_parameters("a = 1\nnot a parameter\n")
        with self.assertRaisesRegex(ValueError, "no name"):
            lk.parse_return_parameters(" = 3")

    def test_result_rows(self):
        rows = lk.result_rows({"voxelCount": 10, "volumeMl": 0.16}, {"longAxisMm": 31.40739})
        self.assertEqual(rows, [("Voxels", "10"), ("Volume", "0.16 mL"), ("RECIST long axis", "31.41 mm")])


@unittest.skipUnless(os.environ.get("LESIONKIT_BIN"), "LESIONKIT_BIN not set: no CLI modules to check against")
class AgainstTheCliModulesTest(unittest.TestCase):
    def xml(self, module):
        exe = os.path.join(os.environ["LESIONKIT_BIN"], module)
        out = subprocess.run([exe, "--xml"], capture_output=True, text=True, check=True).stdout
        root = ET.fromstring(out)
        return {p.findtext("name"): p for group in root.findall("parameters") for p in group
                if p.findtext("name")}

    def check(self, module, params):
        declared = self.xml(module)
        for name, value in params.items():
            self.assertIn(name, declared, f"{module} has no parameter '{name}'")
            p = declared[name]
            if isinstance(value, list):
                self.assertEqual(p.get("multiple"), "true", f"{module} '{name}' is not multiple")
            if p.findtext("longflag"):
                self.assertEqual("--" + p.findtext("longflag").lstrip("-"),
                                 lk.cli_arguments({name: value}, positional=())[0])
            if p.findtext("element") is not None and name in ("kind", "modality"):
                self.assertIn(value, [e.text for e in p.findall("element")])
        return declared

    def test_segment_parameters_exist(self):
        declared = self.check(lk.SEGMENT_MODULE, lk.build_cli_parameters("v", [(0, 0, 0)], "lytic", "m"))
        self.assertEqual(declared["seed"].get("coordinateSystem"), "lps")
        kinds = [e.text for e in declared["kind"].findall("element")]
        for kind in lk.LESION_KINDS:
            self.assertIn(kind, kinds)

    def test_measure_parameters_exist(self):
        self.check(lk.MEASURE_MODULE, lk.build_measure_parameters("v", "m", "/tmp/r.json"))

    def test_result_names_are_module_outputs(self):
        for module, name, _, _ in lk.RESULT_ROWS:
            p = self.xml(module).get(name)
            self.assertIsNotNone(p, f"{module} returns no '{name}'")
            self.assertEqual(p.findtext("channel"), "output")


if __name__ == "__main__":
    unittest.main()
