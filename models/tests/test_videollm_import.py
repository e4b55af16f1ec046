"""A tiny random VideoLLM-online checkpoint in the public layout imports into a package whose graphs
pass parity in onnxruntime-node, whose merged decoder equals an independent reference that applies
the LoRA unmerged, and whose MoD routing always keeps the frame separator."""
import base64
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
torch.set_num_threads(2)

from kibitz_models.videollm.importer import import_videollm  # noqa: E402
from kibitz_models.videollm.layout import find_layout  # noqa: E402
from kibitz_models.videollm.reference import Reference  # noqa: E402
from kibitz_models.videollm.replay import replay_model  # noqa: E402
from kibitz_models.videollm.siglip import pool_grid  # noqa: E402
from kibitz_models.videollm.specs import read_checkpoint  # noqa: E402
from kibitz_models.videollm.tiny import write_tiny  # noqa: E402
from kibitz_models.videollm.tiny_tokenizer import token_id  # noqa: E402
from kibitz_models.videollm.weights import build_model  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
HAS_ORT = shutil.which("node") is not None and os.path.isdir(os.path.join(REPO, "node_modules", "onnxruntime-node"))
HAS_TOKENIZERS = shutil.which("node") is not None and os.path.isdir(os.path.join(REPO, "node_modules", "@huggingface", "tokenizers"))


def make_trace(silent: int, size: int = 96, seed: int = 0) -> dict:
    """What the runtime feeds: the start prompt, a frame, frames each after the separator, a
    commentary prompt, then an eviction of the two oldest frames (StreamingLLM) and more frames."""
    g = np.random.default_rng(seed)
    steps, kept, fed = [], [], [0]

    def add(step: dict, n: int) -> None:
        steps.append(dict(step, kept=list(kept)))
        kept.extend(range(fed[0], fed[0] + n))
        fed[0] += n

    def frame(prefix):
        return {"kind": "frame", "prefix": prefix, "width": size, "height": size,
                "rgb_b64": base64.b64encode(g.integers(0, 256, size * size * 3, dtype=np.uint8).tobytes()).decode()}
    add({"kind": "text", "ids": [336, 32, 220, 76, 13, 198, 58]}, 7)
    add(frame([]), 10)
    for _ in range(3):
        add(frame([silent]), 11)
    add({"kind": "text", "ids": [276, 275, 25]}, 3)
    kept[:] = [s for s in kept if not 7 <= s < 28]   # the first two frames leave the window
    add(frame([]), 10)
    add(frame([silent]), 11)
    return {"steps": steps}


class TestVideoLLMImport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.dense = write_tiny(os.path.join(cls.tmp, "dense"), seed=0)
        cls.mod = write_tiny(os.path.join(cls.tmp, "mod"), seed=1, routers=True)
        t0 = time.time()
        cls.pkg = os.path.join(cls.tmp, "pkg")
        # the folder holding the three
        cls.manifest = import_videollm(os.path.join(cls.tmp, "dense"), cls.pkg, check_parity=HAS_ORT)
        cls.import_s = time.time() - t0
        cls.pkg_mod = os.path.join(cls.tmp, "pkg_mod")
        # the adapter folder, its siblings found
        cls.manifest_mod = import_videollm(cls.mod["adapter"], cls.pkg_mod, name="tiny-mod", check_parity=HAS_ORT)
        with open(os.path.join(cls.dense["llm"], "tokenizer.json")) as f:
            cls.tok = json.load(f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_the_package_has_every_file_and_the_manifest_says_what_it_is(self):
        m = self.manifest
        for f in m["files"].values():
            self.assertTrue(os.path.isfile(os.path.join(self.pkg, f)), f)
        self.assertFalse(os.path.exists(os.path.join(self.pkg, ".graphs")))   # the export's staging is gone
        self.assertEqual((m["format"], m["name"], m["kind"]), ("kibitz-mod/1", "videollm-online", "general"))
        self.assertEqual(m["source"], {"family": "videollm-online", "version": "live1+", "llm": "Meta-Llama-3-8B-Instruct",
                                       "adapter": "videollm-online-8b-v1plus", "vision": "siglip-large-patch16-384",
                                       "lora": {"r": 8, "alpha": 16, "merged": True}})
        self.assertEqual(m["frame"], {"width": 96, "height": 96, "fps": 2, "mean": [0.5] * 3, "std": [0.5] * 3,
                                      "layout": "NHWC uint8 RGB", "scaler": "bicubic"})
        self.assertEqual(m["vision"], {"tokensPerFrame": 10, "summaryTokens": 1, "grid": [3, 3]})
        self.assertEqual(m["decoder"], {"dModel": 64, "layers": 4, "heads": 4, "kvHeads": 2, "headDim": 16, "mlpHidden": 128,
                                        "vocab": 352, "routedLayers": [], "keepRatio": 1, "keptPerFrame": 10,
                                        "ropeTheta": 500000, "maxPositions": 2048, "pastKeys": "rotated",
                                        "framePrefixTokens": 1, "normEps": 1e-5, "frameGraphRunsText": True})
        self.assertEqual(m["tokens"], {"bos": token_id(self.tok, "<|begin_of_text|>"), "eos": token_id(self.tok, "<|eot_id|>"),
                                       "silent": token_id(self.tok, ",")})
        self.assertEqual(m["prompt"]["start"], "<|begin_of_text|>{system}\n\n[")
        self.assertTrue(m["prompt"]["system"].startswith("A multimodal AI assistant is helping users"))
        self.assertEqual((m["prompt"]["commentary"], m["prompt"]["question"], m["prompt"]["frameSeparator"], m["prompt"]["afterLine"]),
                         ("]\nAssistant:", "]\nUser: {question}\nAssistant:", ",", "\n["))
        self.assertEqual(m["decision"], {"threshold": 0.725})
        self.assertEqual(m["cache"], {"windowFrames": (2048 - 64 - 512 - 128) // 11, "textTokens": 512})
        with open(os.path.join(self.pkg, "manifest.json")) as f:
            self.assertEqual(json.load(f), m)
        # the tokenizer is the LLM's own file, byte for byte; embed_tokens is the base table in float32
        with open(os.path.join(self.pkg, "tokenizer.json"), "rb") as a, open(os.path.join(self.dense["llm"], "tokenizer.json"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        emb = np.fromfile(os.path.join(self.pkg, "embed_tokens.bin"), dtype="<f4").reshape(352, 64)
        ck = read_checkpoint(find_layout(self.dense["adapter"]))
        from kibitz_models.videollm.safetensors_io import ShardedCheckpoint
        self.assertTrue(np.array_equal(emb, ShardedCheckpoint(ck.layout.llm).tensor("model.embed_tokens.weight").numpy()))
        self.assertLess(self.import_s, 60)

    @unittest.skipUnless(HAS_ORT, "needs node + onnxruntime-node (npm install)")
    def test_graphs_pass_parity_including_a_frame_after_the_separator(self):
        for m in (self.manifest, self.manifest_mod):
            fx = m["parity"]["fixtures"]
            self.assertEqual(set(fx), {"vision.json", "vision_one.json", "decoder_frame.json", "decoder_frame_empty.json",
                                       "decoder_frame_after_text.json", "decoder_text.json", "decoder_frame_text.json"})
            self.assertLess(m["parity"]["maxAbsDiff"], 1e-3)
        with open(os.path.join(self.pkg_mod, "fixtures", "decoder_frame.json")) as f:
            self.assertEqual(json.load(f)["inputs"]["inputs_embeds"]["shape"], [2, 11, 64])   # n = V + 1

    @unittest.skipUnless(HAS_TOKENIZERS, "needs node + @huggingface/tokenizers (npm install)")
    def test_the_tokenizer_loads_in_the_runtime_library_and_round_trips(self):
        start = self.manifest["prompt"]["start"].format(system=self.manifest["prompt"]["system"])
        texts = ["]\nUser: what is happening?\nAssistant:", start, ",", "]\nAssistant:", "\n[", "héllo wörld 12345 don't"]
        script = ("const {Tokenizer}=require('@huggingface/tokenizers'); const fs=require('fs');"
                  "const [tj, cj, texts]=process.argv.slice(1).map(p=>JSON.parse(fs.readFileSync(p,'utf8')));"
                  "const tok=new Tokenizer(tj, cj);"
                  "console.log(JSON.stringify(texts.map(t=>{const ids=tok.encode(t,{add_special_tokens:false}).ids;"
                  "return {ids, back: tok.decode(ids,{skip_special_tokens:false}), withBos: tok.encode(t).ids[0]};})));")
        tpath = os.path.join(self.tmp, "texts.json")
        with open(tpath, "w") as f:
            json.dump(texts, f)
        res = subprocess.run(["node", "-e", script, os.path.join(self.pkg, "tokenizer.json"),
                              os.path.join(self.dense["llm"], "tokenizer_config.json"), tpath], capture_output=True, text=True, cwd=REPO)
        self.assertEqual(res.returncode, 0, res.stderr)
        out = json.loads(res.stdout)
        tokens = self.manifest["tokens"]
        for text, r in zip(texts, out):
            self.assertEqual(r["back"], text)
            self.assertEqual(r["withBos"], tokens["bos"])
        self.assertEqual(out[1]["ids"][0], tokens["bos"])          # the special token's text in the start prompt
        self.assertEqual(out[2]["ids"], [tokens["silent"]])        # the separator is one token
        self.assertLess(len(out[0]["ids"]), len(texts[0]) - 8)     # merges make common words one token

    def check_against_reference(self, paths: dict, seed: int) -> None:
        ck = read_checkpoint(find_layout(paths["adapter"]))
        trace = make_trace(ck.tokens.silent, seed=seed)
        ref = Reference(paths["adapter"])
        want = ref.replay(trace)
        got = replay_model(build_model(ck), trace)
        self.assertEqual(len(got), len(trace["steps"]))
        for i, (a, b) in enumerate(zip(want, got)):
            self.assertLess(float((a - b).abs().max()), 1e-4, f"step {i}")
        # and the LoRA matters: without it the reference is far off (the merge was really tested)
        ref.lora.clear()
        self.assertGreater(max(float((a - b).abs().max()) for a, b in zip(ref.replay(trace), got)), 1e-2)

    def test_merged_decoder_equals_the_reference_with_unmerged_lora(self):
        self.check_against_reference(self.dense, seed=0)

    def test_mod_decoder_equals_the_reference_that_routes_on_its_own(self):
        self.check_against_reference(self.mod, seed=1)

    def test_mod_import_routes_the_layers_of_mod_config(self):
        d = self.manifest_mod["decoder"]
        self.assertEqual((d["routedLayers"], d["keepRatio"], d["keptPerFrame"]), ([1, 3], 0.2, 2))
        self.assertEqual(self.manifest_mod["name"], "tiny-mod")

    def test_a_routed_layer_keeps_the_separator_even_when_it_scores_lowest(self):
        model = build_model(read_checkpoint(find_layout(self.mod["adapter"])))
        cfg = model.cfg
        V, k = cfg.tokens_per_frame, cfg.kept_per_frame
        for l in cfg.routed_layers:   # the separator (token 0) gets the lowest router score there is
            router = model.layers[l].router
            model.layers[l].router = _LowestFirst(router)
        g = torch.Generator().manual_seed(0)
        emb = torch.randn(2, V + 1, cfg.d_model, generator=g)
        pos = torch.arange(V + 1).unsqueeze(0).repeat(2, 1)
        with torch.no_grad():
            _, out = model.frame_step(emb, pos, model.empty_past(2))
            for l, (nk, _, idx) in enumerate(out):
                if l in cfg.routed_layers:
                    self.assertEqual(idx.shape, (2, 1 + k))
                    self.assertTrue(bool((idx[:, 0] == 0).all()))
                    self.assertTrue(bool((idx[:, 1:] >= 1).all()) and bool((idx[:, 1:].diff(dim=1) > 0).all()))
                else:
                    self.assertTrue(torch.equal(idx[0], torch.arange(V + 1)))
            # with n <= V there is no prefix: without the keep-last rule, the same choice as a model
            # without frame_prefix
            self.assertTrue(cfg.route_keep_last)
            cfg.route_keep_last = False
            logits_p, out_p = model.frame_step(emb[:, 1:], pos[:, 1:], model.empty_past(2))
            model.cfg.frame_prefix = 0
            logits_0, out_0 = model.frame_step(emb[:, 1:], pos[:, 1:], model.empty_past(2))
            model.cfg.frame_prefix = 1
            cfg.route_keep_last = True
        self.assertTrue(torch.equal(logits_p, logits_0))
        for (_, _, a), (_, _, b) in zip(out_p, out_0):
            self.assertTrue(torch.equal(a, b))

    def test_a_routed_layer_always_keeps_the_frames_last_vision_token(self):
        """The decision is read after the frame's last token: every routed layer keeps it (weight 1)
        in one of its k slots, with or without the separator, even when its router scores it lowest;
        T_l and the order of new_index are what they were."""
        model = build_model(read_checkpoint(find_layout(self.mod["adapter"])))
        cfg = model.cfg
        V, k = cfg.tokens_per_frame, cfg.kept_per_frame
        self.assertTrue(cfg.route_keep_last)
        self.assertIs(self.manifest_mod["decoder"]["routeKeepsLast"], True)
        self.assertNotIn("routeKeepsLast", self.manifest["decoder"])          # dense: nothing is routed
        for l in cfg.routed_layers:   # the last token gets the lowest router score there is
            model.layers[l].router = _LowestAt(model.layers[l].router, -1)
        g = torch.Generator().manual_seed(3)
        for n, p in ((V + 1, 1), (V, 0), (4, 0)):
            emb = torch.randn(2, n, cfg.d_model, generator=g)
            pos = torch.arange(n).unsqueeze(0).repeat(2, 1) + 7
            with torch.no_grad():
                _, out = model.frame_step(emb, pos, model.empty_past(2))
            for l, (nk, _, idx) in enumerate(out):
                if l not in cfg.routed_layers:
                    self.assertTrue(torch.equal(idx[0], torch.arange(n)))
                    continue
                self.assertEqual(tuple(idx.shape), (2, p + min(k, n - p)), (n, l))
                self.assertEqual(nk.shape[2], p + min(k, n - p))
                self.assertTrue(bool((idx[:, -1] == n - 1).all()), (n, l, idx))
                self.assertTrue(bool((idx[:, :p] == torch.arange(p)).all()))
                self.assertTrue(bool((idx.diff(dim=1) > 0).all()))
        # the whole-sequence forward (what train-routers trains) keeps it too
        frames = torch.randn(1, 3, V, cfg.d_model, generator=g)
        x = torch.cat([torch.randn(1, 4, cfg.d_model, generator=g), frames[:, 0]] +
                      [t for j in (1, 2) for t in (torch.randn(1, 1, cfg.d_model, generator=g), frames[:, j])], dim=1)
        fi = (4 + (V + 1) * torch.arange(3)).view(1, 3, 1) + torch.arange(V).view(1, 1, V)
        T = x.shape[1]
        with torch.no_grad():
            _, routing = model.forward_sequence(x, torch.arange(T).unsqueeze(0), torch.ones(1, T, dtype=torch.bool), fi,
                                                return_routing=True)
        self.assertEqual(len(routing), len(cfg.routed_layers))
        for r in routing:
            self.assertTrue(bool(r[0, fi[0, :, -1]].all()))
            self.assertEqual(int(r.sum()), 3 * k)

    def test_the_3x3_pool_is_adaptive_avg_pool2d(self):
        h = torch.randn(2, 36, 5)
        grid = h.view(2, 6, 6, 5).permute(0, 3, 1, 2)                        # (N, C, 6, 6) as vision_live.py reshapes it
        want = F.adaptive_avg_pool2d(grid, (3, 3)).flatten(2).permute(0, 2, 1)
        self.assertTrue(torch.allclose(pool_grid(h, 6, 5), want, atol=1e-6))

    def test_cli_reference_writes_one_logits_row_per_step(self):
        from kibitz_models.cli import main
        trace = make_trace(self.manifest["tokens"]["silent"], seed=2)
        tpath, opath = os.path.join(self.tmp, "trace.json"), os.path.join(self.tmp, "ref.json")
        with open(tpath, "w") as f:
            json.dump(trace, f)
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(["videollm-reference", "--checkpoint", os.path.join(self.tmp, "dense"), "--trace", tpath, "--out", opath])
        self.assertEqual(code, 0)
        with open(opath) as f:
            logits = json.load(f)["logits"]
        self.assertEqual((len(logits), len(logits[0])), (len(trace["steps"]), 352))


class TestStreamingShare(unittest.TestCase):
    def test_graphs_written_with_external_weights_share_to_the_same_file(self):
        """At 8B torch.onnx writes each weight to its own file beside the graph; streaming those into
        decoder_weights.bin gives the bytes share_decoder_weights gives a small model."""
        import onnx
        from onnx.external_data_helper import convert_model_to_external_data
        from kibitz_models.export.shared_weights import write_shared
        tmp = tempfile.mkdtemp()
        try:
            write_tiny(os.path.join(tmp, "ck"), seed=3, routers=True)
            pkg = os.path.join(tmp, "pkg")
            import_videollm(os.path.join(tmp, "ck"), pkg, check_parity=False)
            sources = {}
            for g in ("decoder_frame.onnx", "decoder_text.onnx"):
                m = onnx.load(os.path.join(pkg, g))                            # weights read back from decoder_weights.bin
                convert_model_to_external_data(m, all_tensors_to_one_file=False, size_threshold=0)
                sources[g] = os.path.join(tmp, "staged", g[:-5], g)
                os.makedirs(os.path.dirname(sources[g]))
                onnx.save(m, sources[g])                                       # one file per tensor, like torch over 2 GB
            out = os.path.join(tmp, "out")
            os.makedirs(out)
            write_shared(out, sources)
            with open(os.path.join(out, "decoder_weights.bin"), "rb") as a, open(os.path.join(pkg, "decoder_weights.bin"), "rb") as b:
                self.assertEqual(a.read(), b.read())
            for g in sources:
                got, want = onnx.load(os.path.join(out, g)), onnx.load(os.path.join(pkg, g))
                self.assertEqual([(t.name, t.raw_data) for t in got.graph.initializer],
                                 [(t.name, onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(t)).raw_data) for t in want.graph.initializer])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class _LowestAt(torch.nn.Module):
    def __init__(self, router, at: int):
        super().__init__()
        self.router, self.at = router, at

    def forward(self, x):
        s = self.router(x).clone()
        s[:, self.at] = -1e4
        return s


class _LowestFirst(torch.nn.Module):
    def __init__(self, router):
        super().__init__()
        self.router = router

    def forward(self, x):
        s = self.router(x).clone()
        s[:, 0] = -1e4
        return s


if __name__ == "__main__":
    unittest.main()
