"""The VideoLLM-online importer refuses what it does not reproduce exactly, in one line that names
the file and the key (or tensor) and says what to do; the CLI prints that line and exits 2."""
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
torch.set_num_threads(2)

from kibitz_models.videollm.errors import LayoutError  # noqa: E402
from kibitz_models.videollm.importer import import_videollm  # noqa: E402
from kibitz_models.videollm.layout import find_layout  # noqa: E402
from kibitz_models.videollm.safetensors_io import SafetensorsFile, write_safetensors  # noqa: E402
from kibitz_models.videollm.specs import read_checkpoint  # noqa: E402
from kibitz_models.videollm.tiny import ADAPTER_DIR, LLM_DIR, VISION_DIR, write_tiny  # noqa: E402

LORA_A = "base_model.model.model.layers.1.self_attn.k_proj.lora_A.weight"


class TestRefusals(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.clean = tempfile.mkdtemp()
        write_tiny(cls.clean, seed=4, routers=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.clean, ignore_errors=True)

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.ck = os.path.join(self.tmp, "ck")
        shutil.copytree(self.clean, self.ck)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def fresh(self) -> None:
        """A clean copy again (one subTest's edit must not leak into the next)."""
        self.tearDown()
        self.setUp()

    def edit_json(self, folder: str, name: str, **changes) -> None:
        path = os.path.join(self.ck, folder, name)
        with open(path) as f:
            d = json.load(f)
        for k, v in changes.items():
            if isinstance(v, dict) and isinstance(d.get(k), dict) and k == "vision_config":
                d[k].update(v)
            else:
                d[k] = v
        with open(path, "w") as f:
            json.dump(d, f)

    def edit_tensors(self, folder: str, name: str, drop=(), replace=None) -> None:
        path = os.path.join(self.ck, folder, name)
        f = SafetensorsFile(path)
        t = {n: f.tensor(n) for n in f.names() if n not in drop}
        t.update(replace or {})
        del f
        write_safetensors(path, t)

    def refused(self, pattern: str) -> str:
        with self.assertRaises(LayoutError) as cm:
            import_videollm(self.ck, os.path.join(self.tmp, "pkg"), check_parity=False)
        msg = str(cm.exception)
        self.assertNotIn("\n", msg)
        self.assertRegex(msg, pattern)
        return msg

    def test_the_clean_checkpoint_reads(self):
        ck = read_checkpoint(find_layout(self.ck))
        self.assertEqual(ck.adapter.scale, 2.0)
        self.assertEqual(ck.mod.routed_layers, [1, 3])

    def test_a_missing_lora_tensor(self):
        self.edit_tensors(ADAPTER_DIR, "adapter_model.safetensors", drop=[LORA_A])
        self.refused(rf"^{ADAPTER_DIR}/adapter_model.safetensors: missing tensor {LORA_A} \(adapter_config.json target_modules")

    def test_a_missing_base_tensor(self):
        path = os.path.join(self.ck, LLM_DIR, "model.safetensors.index.json")
        with open(path) as f:
            index = json.load(f)
        del index["weight_map"]["model.layers.2.mlp.up_proj.weight"]
        with open(path, "w") as f:
            json.dump(index, f)
        self.refused(rf"^{LLM_DIR}/model.safetensors.index.json: missing tensor model.layers.2.mlp.up_proj.weight$")

    def test_a_missing_router(self):
        self.edit_tensors(ADAPTER_DIR, "routers.safetensors", drop=["model.layers.3.router.bias"])
        self.refused(r"routers.safetensors: missing tensor model.layers.3.router.bias \(mod_config.json routes layer 3\)")

    def test_dora(self):
        self.edit_json(ADAPTER_DIR, "adapter_config.json", use_dora=True)
        self.refused(r"adapter_config.json: use_dora is true: DoRA adapters are not supported; merge it with PEFT first$")

    def test_rope_scaling(self):
        self.edit_json(LLM_DIR, "config.json", rope_scaling={"rope_type": "llama3", "factor": 8.0})
        self.refused(rf"^{LLM_DIR}/config.json: rope_scaling .*'llama3'.*: only Llama-3 without rope scaling is supported")

    def test_a_lora_of_the_wrong_shape(self):
        self.edit_tensors(ADAPTER_DIR, "adapter_model.safetensors", replace={LORA_A: torch.zeros(8, 63)})
        self.refused(rf"adapter_model.safetensors: tensor {LORA_A} has shape \[8, 63\], expected \[8, 64\] \(r x in_features")

    def test_a_base_tensor_of_the_wrong_shape(self):
        self.edit_tensors(VISION_DIR, "model.safetensors", replace={"vision_model.post_layernorm.weight": torch.ones(31)})
        self.refused(rf"{VISION_DIR}/model.safetensors: tensor vision_model.post_layernorm.weight has shape \[31\], expected \[32\]")

    def test_a_vision_tower_that_is_not_siglip(self):
        self.edit_json(VISION_DIR, "config.json", model_type="clip")
        self.refused(rf"^{VISION_DIR}/config.json: model_type 'clip': the vision tower must be SigLIP")
        with self.assertRaisesRegex(LayoutError, "model_type 'clip': the vision tower must be SigLIP"):
            find_layout(os.path.join(self.ck, ADAPTER_DIR), vision=os.path.join(self.ck, VISION_DIR))

    def test_other_adapter_settings(self):
        for key, value, pattern in (("peft_type", "IA3", r"peft_type 'IA3': only LoRA adapters"),
                                    ("bias", "all", r"bias 'all': LoRA bias terms are not supported"),
                                    ("fan_in_fan_out", True, r"fan_in_fan_out is true"),
                                    ("alpha_pattern", {"q_proj": 4}, r"alpha_pattern .*not supported")):
            with self.subTest(key=key):
                self.fresh()
                self.edit_json(ADAPTER_DIR, "adapter_config.json", **{key: value})
                self.refused(rf"^{ADAPTER_DIR}/adapter_config.json: {pattern}")

    def test_vision_geometry(self):
        for cfg, pattern in (({"image_size": 100}, r"image_size 100 is not divisible by patch_size 16"),
                             ({"image_size": 64}, r"image_size 64 / patch_size 16 = 4 patches per side is not divisible by 3")):
            with self.subTest(cfg=cfg):
                self.fresh()
                self.edit_json(VISION_DIR, "config.json", vision_config=cfg)
                self.refused(rf"^{VISION_DIR}/config.json: {pattern}")

    def test_keep_last_is_read_and_checked(self):
        self.assertTrue(read_checkpoint(find_layout(self.ck)).mod.keep_last)        # absent = true
        self.edit_json(ADAPTER_DIR, "mod_config.json", keep_last=False)
        self.assertFalse(read_checkpoint(find_layout(self.ck)).mod.keep_last)
        self.edit_json(ADAPTER_DIR, "mod_config.json", keep_last="yes")
        self.refused(r"mod_config.json: keep_last 'yes': must be true or false")

    def test_layer_zero_is_never_routed(self):
        self.edit_json(ADAPTER_DIR, "mod_config.json", routed_layers=[0, 2])
        self.refused(r"mod_config.json: routed_layers \[0, 2\]: layer 0 is never routed")

    def test_an_adapter_elsewhere_needs_llm_and_vision(self):
        away = os.path.join(self.tmp, "elsewhere", ADAPTER_DIR)
        shutil.move(os.path.join(self.ck, ADAPTER_DIR), away)
        with self.assertRaisesRegex(LayoutError, r"found no Llama folder \(config.json with model_type llama\); pass it with --llm$"):
            find_layout(away)
        layout = find_layout(away, llm=os.path.join(self.ck, LLM_DIR), vision=os.path.join(self.ck, VISION_DIR))
        self.assertEqual(os.path.basename(layout.adapter), ADAPTER_DIR)
        with self.assertRaisesRegex(LayoutError, rf"{VISION_DIR}/config.json: model_type 'siglip': the LLM must be a Llama"):
            find_layout(away, llm=os.path.join(self.ck, VISION_DIR))

    def test_ids_fall_back_to_config_json_without_tokenizer_config(self):
        os.remove(os.path.join(self.ck, LLM_DIR, "tokenizer_config.json"))
        self.edit_json(LLM_DIR, "config.json", bos_token_id=[340, 341], eos_token_id=[344, 345])
        tokens = read_checkpoint(find_layout(self.ck)).tokens
        self.assertEqual((tokens.bos, tokens.eos), (340, 344))

    def test_the_cli_prints_one_line_and_exits_2(self):
        from kibitz_models.cli import main
        self.edit_json(ADAPTER_DIR, "adapter_config.json", use_dora=True)
        for args, pattern in (([self.ck], "use_dora is true"),
                              ([os.path.join(self.clean, ADAPTER_DIR), "--dtype", "fp16"], r"--dtype fp16: not supported yet"),
                              ([os.path.join(self.clean, ADAPTER_DIR), "--window-frames", "1000"], r"--window-frames 1000: must be in 1\.\.122"),
                              ([os.path.join(self.tmp, "nowhere")], "not a folder")):
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                self.assertEqual(main(["import-videollm", *args, "--out", os.path.join(self.tmp, "pkg"), "--no-parity"]), 2)
            lines = err.getvalue().strip().splitlines()
            self.assertEqual(len(lines), 1, lines)
            self.assertRegex(lines[0], "^error: .*" + pattern)


if __name__ == "__main__":
    unittest.main()
