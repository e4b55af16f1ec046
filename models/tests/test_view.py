"""A package's view (ModelConfig.view, manifest frame.view): the frame chain the toolkit builds
(render.frame_filter) against the cases the runtime's src/decode/filter.ts is also checked on,
real ffmpeg through a view, the stored-frame crop (views.py), and the view kept by a checkpoint's
config and written to the manifest."""
import json
import os
import subprocess
import tempfile
import unittest

import numpy as np

from kibitz_models.model.model import ModelConfig
from kibitz_models.data.render import check_view, decode, ffmpeg_bin, frame_filter
from kibitz_models.data.views import crop_frames

HERE = os.path.dirname(os.path.abspath(__file__))


class TestView(unittest.TestCase):
    def test_shared_cases(self):
        with open(os.path.join(HERE, "frame_filter_cases.json")) as f:
            spec = json.load(f)
        for c in spec["cases"]:
            with self.subTest(view=c["view"]):
                self.assertEqual(frame_filter(c["fps"], c["width"], c["height"], c["view"]), c["filter"])
        for v in spec["bad_views"]:
            with self.subTest(bad=v):
                with self.assertRaisesRegex(ValueError, "view"):
                    check_view(v)

    def test_decode_through_a_view_sees_only_that_part(self):
        with tempfile.TemporaryDirectory() as td:
            mp4 = os.path.join(td, "box.mp4")
            subprocess.run([ffmpeg_bin(), "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=blue:s=1280x720:r=30:d=2",
                            "-vf", "drawbox=x=320:y=180:w=640:h=360:color=red:t=fill", "-c:v", "libx264", "-pix_fmt", "yuv420p", mp4],
                           check=True)
            red = lambda f: float(((f[..., 0] > 180) & (f[..., 2] < 80)).mean())
            inside = decode(mp4, 64, 36, 2, (0.25, 0.25, 0.5, 0.5))
            whole = decode(mp4, 64, 36, 2)
        self.assertGreater(min(red(f) for f in inside), 0.95)
        self.assertTrue(all(0.2 < red(f) < 0.3 for f in whole))

    def test_crop_of_stored_frames(self):
        frames = np.zeros((2, 144, 256, 3), np.uint8)
        frames[:, 36:108, 64:192] = 255          # the middle half of each side is white
        out = crop_frames(frames, (0.25, 0.25, 0.5, 0.5))
        self.assertEqual(out.shape, frames.shape)
        self.assertGreater(out[:, 4:-4, 4:-4].min(), 250)

    def test_config_keeps_the_view(self):
        cfg = ModelConfig(view=(0.2703, 0.0611, 0.4602, 0.9167))
        back = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
        self.assertEqual(back.view, cfg.view)
        self.assertIsNone(ModelConfig.from_dict(ModelConfig().to_dict()).view)


if __name__ == "__main__":
    unittest.main()
