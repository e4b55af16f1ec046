"""The exported decoder graphs reshape to constant shapes (model.onnx_reshape): a reshape of
dynamic sizes exports as Shape -> Gather -> Unsqueeze -> Concat -> Reshape, and at 2.8M
parameters every operator call is a fixed cost per step. Guards the form, and that the training
path and the export path of onnx_reshape give the same tensor."""
import os
import sys
import tempfile
import unittest

import onnx
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from kibitz_models.export.package import export_package  # noqa: E402
from kibitz_models.model.model import KibitzModel, ModelConfig, onnx_reshape  # noqa: E402


class TestGraphForm(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.manual_seed(5)
        model = KibitzModel(ModelConfig(vision_channels=(4, 8, 8), d_model=32, n_layers=3, n_heads=2, n_kv_heads=1,
                                        mlp_hidden=64, routed_layers=[1])).eval()
        cls.tmp = tempfile.mkdtemp()
        export_package(model, cls.tmp, "form", check_parity=False)

    def graph(self, name: str) -> onnx.ModelProto:
        return onnx.load(os.path.join(self.tmp, name))

    def test_every_reshape_has_a_constant_shape(self):
        for name in ("decoder_frame.onnx", "decoder_text.onnx"):
            g = self.graph(name).graph
            made_by = {o: n.op_type for n in g.node for o in n.output}
            consts = {i.name for i in g.initializer}
            reshapes = [n for n in g.node if n.op_type == "Reshape"]
            self.assertGreater(len(reshapes), 0, name)
            dynamic = [n.name for n in reshapes if not (n.input[1] in consts or made_by.get(n.input[1]) == "Constant")]
            self.assertEqual(dynamic, [], f"{name}: reshapes whose shape is computed every step")

    def test_shape_reads_are_few(self):
        # frame graph: batch and token count once (the kept count min(k, n), all-token flags) and
        # two per routed layer (its gather index, which onnxruntime folds to a constant, and the
        # all-valid flags of its kept tokens); text graph: none per layer
        counts = {name: sum(n.op_type == "Shape" for n in self.graph(name).graph.node)
                  for name in ("decoder_frame.onnx", "decoder_text.onnx")}
        self.assertLessEqual(counts["decoder_frame.onnx"], 3 + 2 * 1, counts)
        self.assertLessEqual(counts["decoder_text.onnx"], 2, counts)

    def test_training_and_export_paths_agree(self):
        x = torch.randn(2, 5, 12)
        self.assertTrue(torch.equal(onnx_reshape(x, 0, -1, 3, 4), x.view(2, 5, 3, 4)))
        self.assertTrue(torch.equal(onnx_reshape(x.view(2, 5, 3, 4), 0, -1, 12), x))

        class M(torch.nn.Module):
            def forward(self, t):
                return onnx_reshape(t, 0, 3, -1, 4)
        path = os.path.join(self.tmp, "r.onnx")
        torch.onnx.export(M(), (torch.randn(2, 6, 4),), path, input_names=["t"], output_names=["y"],
                          dynamic_axes={"t": {0: "b", 1: "n"}}, opset_version=17)
        nodes = [n.op_type for n in onnx.load(path).graph.node]
        self.assertEqual(nodes.count("Reshape"), 1)
        self.assertNotIn("Shape", nodes)


if __name__ == "__main__":
    unittest.main()
