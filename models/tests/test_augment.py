"""Augmented variants of a recording: the picture is where the returned view says, whatever was done to the canvas."""
import json
import os
import random
import subprocess
import tempfile
import unittest

import numpy as np

from kibitz_models.data.augment import AugmentSpec, augment_recording, augmented_geometry, draw_spec
from kibitz_models.data.render import decode, ffmpeg_bin

VIEW = (0.25, 0.2, 0.4, 0.6)  # a red box exactly there on a blue 640x360 canvas


def red_share(frames: np.ndarray) -> float:
    r, g, b = frames[..., 0].astype(int), frames[..., 1].astype(int), frames[..., 2].astype(int)
    return float(((r > 150) & (g < 90) & (b < 90)).mean())


class AugmentTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        cls.stem = os.path.join(cls.dir, "rec", "chess_1")
        os.makedirs(os.path.dirname(cls.stem))
        x, y, w, h = 640 * VIEW[0], 360 * VIEW[1], 640 * VIEW[2], 360 * VIEW[3]
        subprocess.run([ffmpeg_bin(), "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=blue:s=640x360:r=30:d=2",
                        "-vf", f"drawbox=x={x:g}:y={y:g}:w={w:g}:h={h:g}:color=red:t=fill", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                        cls.stem + ".mp4"], check=True)
        with open(cls.stem + ".json", "w") as f:
            json.dump({"width": 640, "height": 360, "seed": 1}, f)
        with open(cls.stem + ".events.jsonl", "w") as f:
            f.write(json.dumps({"t": 0.5, "kind": "game_start", "text": "a new game begins"}) + "\n")

    def test_the_view_follows_the_picture_through_every_kind_of_change(self):
        specs = [AugmentSpec(), AugmentSpec(scale=0.5, resampler="neighbor", bitrate_kbps=2500),
                 AugmentSpec(scale=1.7, resampler="bicubic", encoder="nvenc-like", crop_px=(4, 2)),
                 AugmentSpec(scale=0.8, resampler="area", colour_range="pc", overlay=0.15)]
        for i, spec in enumerate(specs):
            meta = augment_recording(self.stem, os.path.join(self.dir, "aug"), spec, VIEW, f"v{i}")
            frames = decode(os.path.join(self.dir, "aug", f"v{i}.mp4"), 64, 36, 2, meta["view"])
            share = red_share(frames)
            self.assertGreater(share, 0.97 if spec.overlay == 0 else 0.85, f"{spec}: red share {share:.3f} through {meta['view']}")
            self.assertEqual(meta["augment"]["scale"], spec.scale)
            self.assertTrue(os.path.exists(os.path.join(self.dir, "aug", f"v{i}.events.jsonl")))
        # the whole canvas is not the picture: the view is what makes it red
        self.assertLess(red_share(decode(os.path.join(self.dir, "aug", "v2.mp4"), 64, 36, 2, None)), 0.5)

    def test_geometry_and_refusals(self):
        w, h, v = augmented_geometry(640, 360, VIEW, AugmentSpec(scale=2.0))
        self.assertEqual((w, h), (1280, 720))
        np.testing.assert_allclose(v, VIEW, atol=1e-9)
        with self.assertRaisesRegex(ValueError, "outside 0.5-2"):
            AugmentSpec(scale=3).check()
        with self.assertRaisesRegex(ValueError, "resampler"):
            AugmentSpec(resampler="sinc2").check()
        with self.assertRaisesRegex(ValueError, "cuts into the picture"):
            augmented_geometry(640, 360, (0.0, 0.0, 0.5, 0.5), AugmentSpec(crop_px=(4, 0)))

    def test_draws_stay_in_the_ranges_a_package_must_hold_up_over(self):
        rng = random.Random(7)
        for _ in range(200):
            s = draw_spec(rng)
            self.assertTrue(0.5 <= s.scale <= 2.0 and 2500 <= s.bitrate_kbps <= 8000 and max(s.crop_px) <= 6)


if __name__ == "__main__":
    unittest.main()
