"""Evaluation scoring and the streaming runner's cache window."""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
torch.set_num_threads(2)

from kibitz_models.evaluation.evaluate import Streamer, score_commentary  # noqa: E402
from kibitz_models.model.model import KibitzModel, ModelConfig  # noqa: E402


class TestScoring(unittest.TestCase):
    def test_two_second_rule(self):
        events = [(1.0, "an enemy appears"), (5.0, "the player is hit"), (9.0, "game over")]
        lines = [(1.5, "an enemy appears and the player picks up a red gem"),   # 1 right, 1 spurious
                 (7.5, "the player is hit"),                                     # 2.5 s late: spurious
                 (9.0, "game over")]
        r = score_commentary(events, lines, 60.0)
        self.assertEqual((r["events"], r["caught"], r["phrases"], r["correct"], r["spurious"]), (3, 2, 4, 2, 2))

    def test_line_before_event_does_not_count(self):
        r = score_commentary([(3.0, "game over")], [(2.5, "game over")], 60.0)
        self.assertEqual(r["caught"], 0)


class TestStreamer(unittest.TestCase):
    def test_window_eviction_keeps_bos_and_renumbers(self):
        torch.manual_seed(0)
        cfg = ModelConfig(frame_width=128, frame_height=72, stem_stride=2, vision_channels=(8, 16, 32), d_model=64,
                          n_layers=4, n_heads=4, n_kv_heads=2, mlp_hidden=96, routed_layers=[1, 3])
        m = KibitzModel(cfg).eval()
        st = Streamer(m, window_frames=3, max_new=2)
        with torch.no_grad():
            for i in range(6):
                st.frame(torch.randn(cfg.tokens_per_frame, cfg.d_model))
                if i == 1:
                    st.generate([4, 20, 5])
        self.assertEqual(st.frames_in_cache(), 3)
        self.assertEqual(st.chunks[0]["kind"], "text")      # the bos sink
        past, n = st._past()
        self.assertEqual(n, 1 + 3 * cfg.tokens_per_frame)   # the question text was evicted with its frame
        self.assertEqual(past[0][2].tolist()[0], list(range(n)))          # dense layer: contiguous positions
        self.assertEqual(past[1][0].shape[2], 1 + 3 * cfg.kept_per_frame)  # routed layer: kept entries only


if __name__ == "__main__":
    unittest.main()
