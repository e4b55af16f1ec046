"""The temporal token drop (temporal.py): the rule on crafted frames (the same cases the runtime's
test checks, temporal_drop_cases.json); training with drops equals streaming only the fed tokens;
decoder_frame exports with a dynamic token axis."""
import json
import os
import random
import shutil
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
torch.set_num_threads(2)

from kibitz_models.data.dataset import IGNORE, Sample, build_clip, collate  # noqa: E402

from kibitz_models.games.catalogue import get as get_game  # noqa: E402
from kibitz_models.model.model import KibitzModel, ModelConfig  # noqa: E402
from kibitz_models.data.temporal import TemporalConfig, TokenDrop, keep_masks  # noqa: E402
from kibitz_models.data.tokenizer import BOS, COMMENTARY, EOS, SILENT, Tokenizer  # noqa: E402
from kibitz_models.training.train import last_present  # noqa: E402
from kibitz_models.data.world import World  # noqa: E402
from test_export_and_errors import HAS_ORT  # noqa: E402
from tiny_training import SMALL, TinyTrainingCase  # noqa: E402

CASES = os.path.join(HERE, "temporal_drop_cases.json")


def crafted(spec: dict, f: dict) -> np.ndarray:
    frame = np.full((spec["height"], spec["width"], 3), f["fill"], np.uint8)
    for y0, y1, x0, x1, v in f["rects"]:
        frame[y0:y1, x0:x1] = v
    return frame


class TestRule(unittest.TestCase):
    def test_crafted_frames_give_the_expected_tokens(self):
        with open(CASES) as fh:
            spec = json.load(fh)
        for case in spec["cases"]:
            r = case["rule"]
            drop = TokenDrop(TemporalConfig(r["cellMargin"], r["threshold"], r["refreshFrames"]),
                             spec["height"], spec["width"], *spec["grid"])
            for i, f in enumerate(case["frames"]):
                if f.get("reset"):
                    drop.reset()
                got = np.flatnonzero(drop.step(crafted(spec, f))).tolist()
                self.assertEqual(got, f["fed"], f"{case['name']}, frame {i}: {f.get('why', '')}")

    def test_every_cell_is_fed_within_refresh_frames(self):
        frames = np.zeros((40, 144, 256, 3), np.uint8)
        m = keep_masks(TemporalConfig(refresh_frames=12), frames, 3, 8)
        self.assertTrue(m[:, 0].all())
        self.assertEqual(m[1:, 1:].sum(axis=0).tolist(), [3] * 24)   # frames 12, 24, 36
        self.assertTrue(m[12, 1:].all() and not m[11, 1:].any())

    def test_warmup_frames_only_set_the_state(self):
        frames = np.zeros((6, 144, 256, 3), np.uint8)
        frames[4:, :10, :10] = 200
        m = keep_masks(TemporalConfig(), frames, 3, 8, warmup=3)
        self.assertEqual(m.shape, (3, 25))
        self.assertEqual(np.flatnonzero(m[0]).tolist(), [0])       # still since the warm-up
        self.assertEqual(np.flatnonzero(m[1]).tolist(), [0, 1])    # the change
        self.assertEqual(np.flatnonzero(m[2]).tolist(), [0])


def _model(seed: int) -> KibitzModel:
    torch.manual_seed(seed)
    m = KibitzModel(ModelConfig()).eval()
    with torch.no_grad():   # routers with a spread of scores (fresh ones are all ~0)
        for layer in m.layers:
            if layer.router is not None:
                layer.router.weight.normal_(0, 0.5)
    return m


def _sample(present: np.ndarray, text_after: dict) -> Sample:
    """A sequence of bos + frames (V slots each, decision target on the last present token) with
    text after some frames; `present` (F, V)."""
    F, V = present.shape
    ids, tg, starts = [BOS], [IGNORE], []
    for f in range(F):
        starts.append(len(ids))
        ids += [-1] * V
        tg += [IGNORE] * V
        tg[starts[-1] + int(np.flatnonzero(present[f])[-1])] = COMMENTARY if f in text_after else SILENT
        for t in text_after.get(f, []):
            ids.append(t)
            tg.append(IGNORE)
    return Sample(ids, tg, starts, np.zeros((F, 2, 2, 3), np.uint8), [0] * F, present)


class TestTrainingEqualsStreaming(unittest.TestCase):
    """A training batch with drops gives the decision logits that streaming only the fed tokens
    (frame_step with n tokens, positions counting fed tokens only) gives."""

    def test_masked_sequence_equals_frame_steps_of_fed_tokens(self):
        model = _model(3)
        V, d = model.cfg.tokens_per_frame, model.cfg.d_model
        rng = np.random.default_rng(0)
        F = 6
        rows = []
        for b in range(2):
            present = rng.random((F, V)) < 0.35
            present[:, 0] = True
            present[0] = True                       # first frame: all
            present[2, 1:] = False                  # only the summary token (n = 1 < keptPerFrame)
            present[3, 1:] = False
            present[3, [5, 6, 24]] = True           # n = 4 < keptPerFrame
            if b == 1:
                present[:] = True                   # a row without drops in the same batch
            rows.append(present)
        text = {1: [COMMENTARY, 20, 21, EOS], 4: [COMMENTARY, 30, EOS]}
        samples = [_sample(p, text) for p in rows]
        ids, targets, pos, valid, fidx, _, _ = collate(samples, V)
        B, T = ids.shape
        vis = torch.randn(B, F, V, d)
        with torch.no_grad():
            emb = model.embed(ids)
            emb = emb.scatter(1, fidx.view(B, F * V, 1).expand(-1, -1, d), vis.view(B, F * V, d))
            logits = model.logits(model.forward_sequence(emb, pos, valid, fidx))
            dec = last_present(fidx, valid)                                   # (B, F)
            for b in range(B):
                want = self._stream(model, vis[b], rows[b], text)
                for f in range(F):
                    got = logits[b, dec[b, f]]
                    self.assertLess(float((got - want[f]).abs().max()), 1e-4, f"row {b} frame {f}")
                    self.assertNotEqual(int(targets[b, dec[b, f]]), IGNORE)

    @staticmethod
    def _stream(model, vis, present, text):
        """Feeds bos, then per frame only its present tokens (ascending), text after some frames."""
        L = model.cfg.n_layers
        past = model.empty_past(1)
        n_seen = 0

        def add(out, n, index=None):
            nonlocal past, n_seen
            new = []
            for l, (pk, pv, pp, pm) in enumerate(past):
                k, v = out[l][0], out[l][1]
                rel = out[l][2][0] if index else torch.arange(n)
                p = (rel + n_seen).unsqueeze(0)
                new.append((torch.cat([pk, k], 2), torch.cat([pv, v], 2), torch.cat([pp, p], 1),
                            torch.cat([pm, torch.ones_like(p, dtype=torch.bool)], 1)))
            past = new
            n_seen += n
            assert len(past) == L

        def text_step(tokens):
            _, out = model.text_step(model.embed(torch.tensor([tokens])), torch.arange(n_seen, n_seen + len(tokens)).unsqueeze(0), past)
            add(out, len(tokens))

        text_step([BOS])
        decisions = []
        for f in range(vis.shape[0]):
            fed = vis[f][torch.from_numpy(present[f])].unsqueeze(0)               # (1, n, d)
            n = fed.shape[1]
            logits, out = model.frame_step(fed, torch.arange(n_seen, n_seen + n).unsqueeze(0), past)
            decisions.append(logits[0])
            add(out, n, index=True)
            if f in text:
                text_step(text[f])
        return decisions

    def test_build_clip_puts_the_decision_on_the_last_fed_token(self):
        world = next(w for w in (World(seed, 30.0) for seed in range(1000, 1050)) if len(w.events) >= 3)
        frames = np.zeros((60, 144, 256, 3), np.uint8)
        frames[:, 100:, :] = 40
        for i in range(0, 60, 3):
            frames[i:, 10:20, 200:210] = (i * 7) % 256      # cell 6 changes every 3 frames
        s = build_clip(world, frames, 20, 16, 25, Tokenizer(), random.Random(1), game=get_game("demo"), temporal=TemporalConfig(), grid=(3, 8))
        self.assertEqual(s.present.shape, (16, 25))
        self.assertTrue(s.present[:, 0].all())
        partial = [f for f in range(1, 16) if not s.present[f].all()]
        self.assertTrue(partial, "a still background leaves frames partial")
        for f in range(1, 16):
            last = s.frame_starts[f] + int(np.flatnonzero(s.present[f])[-1])
            self.assertIn(s.targets[last], (SILENT, COMMENTARY), f"frame {f}")
            self.assertTrue(all(s.targets[j] == IGNORE for j in range(s.frame_starts[f], s.frame_starts[f] + 25) if j != last))
        # positions count only present tokens
        _, _, pos, valid, fidx, _, _ = collate([s], 25)
        vp = pos[0][valid[0]]
        self.assertEqual(vp.tolist(), list(range(int(valid[0].sum()))))

    def test_a_freeze_clip_shows_a_still_picture_then_the_world_goes_on(self):
        world = next(w for w in (World(seed, 30.0) for seed in range(1000, 1050)) if len(w.events) >= 4)
        frames = np.stack([np.full((144, 256, 3), 3 * i, np.uint8) for i in range(60)])   # frame i is all 3i: every cell changes
        start, p, k = 10, 5, 6
        s = build_clip(world, frames, start, 16, 25, Tokenizer(), random.Random(3), game=get_game("demo"), temporal=TemporalConfig(),
                       grid=(3, 8), freeze=(p, k))
        shown = [int(f[0, 0, 0]) // 3 for f in s.frames]
        self.assertEqual(shown, list(range(10, 15)) + [14] * 6 + list(range(15, 20)))
        self.assertEqual(s.seconds, [(start + j) // 2 for j in range(16)])            # the stream clock runs on
        for j in range(p, p + k):                                                      # still: summary token only
            self.assertEqual(np.flatnonzero(s.present[j]).tolist(), [0])
            self.assertEqual(s.targets[s.frame_starts[j]], SILENT)
        self.assertTrue(s.present[p + k].all())                                        # the world moves again
        self.assertNotIn(Tokenizer().encode("seconds")[0], s.ids)                     # no time question
        plain = build_clip(world, frames, start, 16, 25, Tokenizer(), random.Random(3), game=get_game("demo"))
        self.assertEqual([int(f[0, 0, 0]) // 3 for f in plain.frames], list(range(10, 26)))

    def test_without_the_drop_nothing_changes(self):
        world = World(1000, 30.0)
        frames = np.zeros((60, 144, 256, 3), np.uint8)
        a = build_clip(world, frames, 5, 16, 25, Tokenizer(), random.Random(2), game=get_game("demo"))
        self.assertIsNone(a.present)
        _, _, pos, valid, _, _, _ = collate([a], 25)
        self.assertEqual(pos[0].tolist(), list(range(len(a.ids))))
        self.assertTrue(valid[0].all())


class TestTrainedBothWays(TinyTrainingCase):
    """`cli train --temporal --temporal-share S`: only that share of clips is built with the drop."""

    def test_a_share_of_clips_feeds_every_token(self):
        from kibitz_models.data.dataset import load_streams
        from kibitz_models.games.catalogue import get as get_game
        from kibitz_models.training.train import ClipDrawer
        streams = load_streams(self.data)
        cfg = KibitzModel(ModelConfig(**SMALL)).cfg
        rng = random.Random(5)
        mixed = ClipDrawer(self.data, streams, cfg, get_game("demo"), temporal=TemporalConfig(), temporal_share=0.5)
        with_drop = sum(mixed.clip(rng).present is not None for _ in range(40))
        self.assertGreater(with_drop, 8)
        self.assertLess(with_drop, 32)
        always = ClipDrawer(self.data, streams, cfg, get_game("demo"), temporal=TemporalConfig())
        self.assertTrue(all(always.clip(rng).present is not None for _ in range(10)))

    def test_a_share_outside_0_to_1_is_refused(self):
        from kibitz_models.model.model import ConfigError
        from kibitz_models.training.train import train
        for bad in (0.0, 1.5):
            with self.assertRaisesRegex(ConfigError, "temporal-share"):
                train(self.data, os.path.join(self.td, "x.pt"), 1, resume=self.start, steps=1, temporal=TemporalConfig(), temporal_share=bad)


@unittest.skipUnless(HAS_ORT, "needs node + onnxruntime-node (npm install)")
class TestExport(unittest.TestCase):
    def test_decoder_frame_takes_any_number_of_tokens(self):
        from kibitz_models.export.package import export_package
        m = _model(4)
        td = tempfile.mkdtemp()
        try:
            man = export_package(m, td, "ttd-test", {"fps": 2, "window_frames": 16, "temporal": TemporalConfig().to_dict()})
            self.assertEqual(man["temporal"]["cellMargin"], 8)
            self.assertEqual(man["temporal"]["refreshFrames"], 12)
            # parity ran on every fixture (n = 25, 25 with an empty past, 1 and 7) within tolerance
            for f in ("decoder_frame.json", "decoder_frame_empty.json", "decoder_frame_n1.json", "decoder_frame_n7.json"):
                self.assertIn(f, man["parity"]["fixtures"])
            self.assertLess(man["parity"]["maxAbsDiff"], 1e-3)
            with open(os.path.join(td, "fixtures", "decoder_frame_n1.json")) as fh:
                fx = json.load(fh)
            self.assertEqual(fx["outputs"]["new_key.1"]["shape"][2], 1)     # routed layer keeps min(k, n)
            with open(os.path.join(td, "fixtures", "decoder_frame_n7.json")) as fh:
                fx = json.load(fh)
            self.assertEqual(fx["outputs"]["new_key.1"]["shape"][2], m.cfg.kept_per_frame)
            self.assertEqual(fx["outputs"]["new_key.0"]["shape"][2], 7)
            off = export_package(m, td, "ttd-off", {"fps": 2, "window_frames": 16, "temporal": TemporalConfig().to_dict(),
                                                   "temporal_default": "off"}, check_parity=False)
            self.assertEqual(off["temporal"]["default"], "off")     # the runtime's `auto` leaves it off
            self.assertNotIn("default", man["temporal"])
            no = export_package(m, td, "no-ttd", {"fps": 2, "window_frames": 16}, check_parity=False)
            self.assertNotIn("temporal", no)
        finally:
            shutil.rmtree(td)


if __name__ == "__main__":
    unittest.main()
