"""train-routers: MoD routers for a dense VideoLLM-online checkpoint, distilled from it on an
unlabelled recording. On the tiny random checkpoint: always keeping each frame's last vision token
(the rule every import uses) brings routed models far closer to the dense one on a DIFFERENT
recording than routers without it; without the rule, a few seconds of training bring the routed
model closer than its untrained routers (with it, the tiny model leaves the routers little to
learn: see test_training_...); the output
folder imports into a MoD package whose frame-by-frame steps give what training optimised; bad
input is refused with one line."""
import base64
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
torch.set_num_threads(2)

from kibitz_models import cli  # noqa: E402
from kibitz_models.videollm.errors import RouterInputError  # noqa: E402
from kibitz_models.videollm.importer import import_videollm  # noqa: E402
from kibitz_models.videollm.layout import find_layout  # noqa: E402
from kibitz_models.videollm.replay import replay_model  # noqa: E402
from kibitz_models.videollm.router_data import ByteBPE, decode_video  # noqa: E402
from kibitz_models.videollm.router_table import decisions, router_table  # noqa: E402
from kibitz_models.videollm.routers import Distiller, FixedKSet, train_routers, train_routers_on, write_adapter  # noqa: E402
from kibitz_models.videollm.safetensors_io import SafetensorsFile  # noqa: E402
from kibitz_models.videollm.specs import read_checkpoint  # noqa: E402
from kibitz_models.videollm.tiny import write_tiny  # noqa: E402
from kibitz_models.videollm.weights import build_model  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
TRAIN_MP4 = os.path.join(REPO, "models", "samples", "broadcast1.mp4")
HELD_MP4 = os.path.join(REPO, "models", "samples", "chess", "broadcast1.mp4")
HAS_TOKENIZERS = shutil.which("node") is not None and os.path.isdir(os.path.join(REPO, "node_modules", "@huggingface", "tokenizers"))


def quiet(*_):
    pass


class TestTrainRouters(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.paths = write_tiny(os.path.join(cls.tmp, "ck"), seed=0)
        cls.d = Distiller(os.path.join(cls.tmp, "ck"), log=quiet)
        cls.train = cls.d.embed_video(TRAIN_MP4, max_seconds=20)        # 40 frames
        cls.held = cls.d.embed_video(HELD_MP4, max_seconds=15)          # 30 frames of another recording
        torch.manual_seed(0)
        cls.res = train_routers_on(cls.d, [cls.train], keep_ratio=0.2, from_layer=2, steps=40, seed=0, clip_frames=8,
                                   batch=2, log=quiet)
        torch.manual_seed(0)
        cls.res_free = train_routers_on(cls.d, [cls.train], keep_ratio=0.2, from_layer=2, steps=40, seed=0, clip_frames=8,
                                        batch=2, keep_last=False, log=quiet)
        cls.out = os.path.join(cls.tmp, "adapter-mod")
        cls.mod = write_adapter(cls.d, cls.res.routers, cls.out, {"steps": cls.res.record["steps"], "final_kl": 0.0})

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_training_lowers_the_heldout_kl_below_random_routers_at_the_same_ratio(self):
        """Held-out KL after each frame. Without the keep-last rule training beats the untrained
        routers (mostly by learning to keep the frame's last token now and then); the rule keeps
        it always and lowers the KL of trained and untrained routers alike far more. With the rule,
        on this 4-layer checkpoint routed on layers 2-3, the routers have one free slot per frame and
        the last layer's router gets no gradient at all (only the last token's own update reaches the
        decision there): trained ~ random, so that is not asserted."""
        self.assertEqual(self.train.frames, 40)
        self.assertEqual(self.held.frames, 30)
        per = decisions(self.d, self.held, {"trained": self.res.routers, "random": self.res.initial,
                                            "trained, no rule": self.res_free.routers, "random, no rule": self.res_free.initial,
                                            "first-k": FixedKSet([2, 3], 0.2)}, clip_frames=8)
        kl = {k: float(v["kl"].mean()) for k, v in per.items()}
        last = {k: float(v["last_kept"].mean()) for k, v in per.items()}
        self.assertEqual(per["trained"]["kl"].size, 30)            # every held-out frame once
        self.assertLess(kl["trained, no rule"], 0.95 * kl["random, no rule"], kl)
        self.assertLess(kl["trained"], 0.5 * kl["trained, no rule"], kl)
        self.assertLess(kl["random"], 0.5 * kl["random, no rule"], kl)
        self.assertGreater(kl["random"], 1e-3, kl)                   # routing at r = 0.2 does change the model
        self.assertEqual((last["trained"], last["random"], last["first-k"]), (1.0, 1.0, 0.0), last)
        self.assertLess(last["random, no rule"], 1.0, last)
        # only the routers trained: the LLM is the dense one
        self.assertTrue(all(not p.requires_grad for p in self.d.model.parameters()))
        self.assertTrue(all(l.router is None for l in self.d.model.layers))

    def test_the_copy_imports_into_a_mod_package(self):
        src = self.paths["adapter"]
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            with open(os.path.join(src, name), "rb") as a, open(os.path.join(self.out, name), "rb") as b:
                self.assertEqual(a.read(), b.read(), name)
        r = SafetensorsFile(os.path.join(self.out, "routers.safetensors"))
        self.assertEqual(sorted(r.names()), [f"model.layers.{l}.router.{p}" for l in (2, 3) for p in ("bias", "weight")])
        self.assertEqual(r.shape("model.layers.2.router.weight"), [1, 64])
        self.assertEqual((self.mod["keep_ratio"], self.mod["routed_layers"], self.mod["keep_last"]), (0.2, [2, 3], True))
        pkg = os.path.join(self.tmp, "pkg")
        m = import_videollm(self.out, pkg, llm=self.paths["llm"], vision=self.paths["vision"], check_parity=False)
        self.assertEqual((m["decoder"]["routedLayers"], m["decoder"]["keepRatio"], m["decoder"]["keptPerFrame"],
                          m["decoder"]["routeKeepsLast"]), ([2, 3], 0.2, 2, True))

    def test_the_imported_model_stepped_like_the_runtime_gives_what_training_optimised(self):
        """forward_sequence over a clip (training) = frame_step frame by frame with the separator as
        the frame's prefix (the runtime), for the model import-videollm builds from the copy."""
        frames = next(decode_video(HELD_MP4, 96, chunk=5))
        ck = read_checkpoint(find_layout(self.out, self.paths["llm"], self.paths["vision"]))
        model = build_model(ck)
        self.assertEqual((model.cfg.routed_layers, model.cfg.route_keep_last), ([2, 3], True))
        steps = [{"kind": "text", "ids": self.d.prompt_ids}]
        for j, f in enumerate(frames):
            steps.append({"kind": "frame", "prefix": [self.d.silent] if j else [], "width": 96, "height": 96,
                          "rgb_b64": base64.b64encode(np.ascontiguousarray(f).tobytes()).decode()})
        kept = []
        for s in steps:     # nothing evicted: every earlier serial is kept
            s["kept"] = list(kept)
            kept += range(len(kept), len(kept) + (len(s["ids"]) if s["kind"] == "text" else len(s["prefix"]) + 10))
        stepped = torch.stack(replay_model(model, {"steps": steps})[1:])                   # (5, vocab)
        video = self.d.embed_frames([frames], "clip")
        with torch.no_grad():
            logp, _ = self.d.run(self.d.batch(video, [0], 5), self.res.routers)
        self.assertLess(float((torch.log_softmax(stepped, -1) - logp[0]).abs().max()), 1e-4)

    def test_the_command_writes_the_copy_with_its_training_record(self):
        out = os.path.join(self.tmp, "cli-out")
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
            rc = cli.main(["train-routers", self.paths["adapter"], "--video", HELD_MP4, "--out", out, "--steps", "3",
                           "--clip-frames", "8", "--keep-ratio", "0.3", "--from-layer", "1"])
        self.assertEqual(rc, 0)
        printed = json.loads(buf.getvalue().strip().splitlines()[-1])
        with open(os.path.join(out, "mod_config.json")) as f:
            mod = json.load(f)
        self.assertEqual((mod["keep_ratio"], mod["routed_layers"]), (0.3, [1, 2, 3]))
        t = mod["training"]
        self.assertEqual((t["steps"], t["videos"], t["straight_through"], t["keep_last"], mod["keep_last"]),
                         (3, [{"file": "broadcast1.mp4", "frames": 150}], True, True, True))
        self.assertGreater(t["initial_kl"], 0)
        self.assertGreaterEqual(t["final_kl"], 0)
        self.assertEqual(printed["training"]["final_kl"], t["final_kl"])

    def test_the_straight_through_forward_is_forward_sequence(self):
        b = self.d.batch(self.train, [0, 7], 9)
        for routers in (self.res.initial, self.res_free.initial):      # with and without the keep-last rule
            with torch.no_grad():
                plain = self.d.run(b, routers)
                st = self.d.run(b, routers, straight_through=True)
            self.assertEqual(float((plain[1] - st[1]).abs().max()), 0.0)
            self.assertEqual(float((plain[0] - st[0]).abs().max()), 0.0)

    @unittest.skipUnless(HAS_TOKENIZERS, "needs node + @huggingface/tokenizers (npm install)")
    def test_the_start_prompt_is_tokenized_as_the_runtime_tokenizes_it(self):
        script = ("const {Tokenizer}=require('@huggingface/tokenizers'); const fs=require('fs');"
                  "const [tj, cj]=process.argv.slice(1, 3).map(p=>JSON.parse(fs.readFileSync(p,'utf8')));"
                  "console.log(JSON.stringify(new Tokenizer(tj, cj).encode(process.argv[3],{add_special_tokens:false}).ids));")
        from kibitz_models.videollm.prompt import START, SYSTEM_PROMPT
        res = subprocess.run(["node", "-e", script, os.path.join(self.paths["llm"], "tokenizer.json"),
                              os.path.join(self.paths["llm"], "tokenizer_config.json"), START.format(system=SYSTEM_PROMPT)],
                             capture_output=True, text=True, cwd=REPO)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(json.loads(res.stdout), self.d.prompt_ids)
        self.assertEqual(self.d.prompt_ids[0], 352 - 16)            # <|begin_of_text|>, honoured as written

    def test_bad_input_is_refused_with_one_line(self):
        ck = os.path.join(self.tmp, "ck")
        audio = os.path.join(self.tmp, "tone.wav")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=1", audio], check=True)
        junk = os.path.join(self.tmp, "junk.mp4")
        with open(junk, "w") as f:
            f.write("not a video\n")
        full = os.path.join(self.tmp, "full")
        os.makedirs(full)
        open(os.path.join(full, "x"), "w").close()
        cases = [
            (["--video", audio], "no video stream"),
            (["--video", junk], "not a readable video"),
            (["--video", os.path.join(self.tmp, "missing.mp4")], "file not found"),
            (["--video", TRAIN_MP4, "--keep-ratio", "0"], "--keep-ratio 0.0: must be in (0, 1)"),
            (["--video", TRAIN_MP4, "--keep-ratio", "1.5"], "--keep-ratio 1.5: must be in (0, 1)"),
            (["--video", TRAIN_MP4, "--keep-ratio", "1"], "nothing to route"),
            (["--video", TRAIN_MP4, "--from-layer", "0"], "--from-layer 0: must be in 1..3"),
            (["--video", TRAIN_MP4, "--from-layer", "4"], "--from-layer 4: must be in 1..3"),
            (["--video", TRAIN_MP4, "--steps", "0"], "--steps 0: must be at least 1"),
        ]
        for extra, want in cases:
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                rc = cli.main(["train-routers", ck, "--out", os.path.join(self.tmp, "never"), "--steps", "1", *extra])
            msg = err.getvalue().strip()
            self.assertEqual(rc, 2, (extra, msg))
            self.assertIn(want, msg, extra)
            self.assertEqual(len(msg.splitlines()), 1, msg)
            self.assertFalse(os.path.exists(os.path.join(self.tmp, "never")), extra)
        for out, want in ((full, "is not an empty folder"), (self.paths["adapter"], "is the checkpoint's adapter folder")):
            with self.assertRaisesRegex(RouterInputError, want):
                train_routers(self.paths["adapter"], [TRAIN_MP4], out, log=quiet)
        # the decoder itself refuses the same, should a file change between the check and the decode
        with self.assertRaisesRegex(RouterInputError, "no video stream"):
            list(decode_video(audio, 96))
        with self.assertRaisesRegex(RouterInputError, "not a readable video"):
            list(decode_video(junk, 96))
        with self.assertRaisesRegex(RouterInputError, "the held-out video is the training video"):
            router_table(ck, TRAIN_MP4, [TRAIN_MP4], log=quiet)


class TestByteBPE(unittest.TestCase):
    def test_merges_by_rank_and_honours_added_tokens(self):
        tok = {"added_tokens": [{"id": 9, "content": "<|s|>"}],
               "model": {"type": "BPE", "ignore_merges": False, "merges": ["a b", "ab c"],
                         "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3, "abc": 4, "Ġ": 5, "Ċ": 6}}}
        self.assertEqual(ByteBPE(tok).encode("<|s|>abc ab\nc"), [9, 4, 5, 3, 6, 2])


if __name__ == "__main__":
    unittest.main()
