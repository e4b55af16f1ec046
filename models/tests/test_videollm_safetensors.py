"""safetensors without the safetensors package: round trips of every dtype the importer reads
(BF16 included, bit for bit against torch's own rounding), shards through the index, and lazy reads."""
import json
import os
import shutil
import struct
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from kibitz_models.videollm.errors import LayoutError  # noqa: E402
from kibitz_models.videollm.safetensors_io import (INDEX_FILE, Pending, SafetensorsFile, ShardedCheckpoint,  # noqa: E402
                                                   bf16_to_f32, write_safetensors, write_sharded)


class TestSafetensors(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        g = torch.Generator().manual_seed(3)
        self.tensors = {"a.f32": torch.randn(3, 5, generator=g), "b.f16": torch.randn(4, generator=g).half(),
                        "c.bf16": torch.randn(2, 3, 4, generator=g).bfloat16(), "d.i64": torch.arange(-3, 6).view(3, 3),
                        "e.empty": torch.zeros(0, 4)}

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_round_trip_of_every_dtype(self):
        path = os.path.join(self.tmp, "x.safetensors")
        write_safetensors(path, self.tensors, {"format": "pt"})
        f = SafetensorsFile(path)
        self.assertEqual(f.names(), list(self.tensors))
        self.assertEqual(f.metadata, {"format": "pt"})
        self.assertEqual([f.dtype(n) for n in f.names()], ["F32", "F16", "BF16", "I64", "F32"])
        for name, t in self.tensors.items():
            got = f.tensor(name, float32=False)
            self.assertEqual(got.dtype, t.dtype, name)
            self.assertTrue(torch.equal(got, t), name)
            if t.is_floating_point():
                self.assertTrue(torch.equal(f.tensor(name), t.float()), name)   # float32 by default, exact
        # the header is padded to 8 bytes, and the data starts right after it
        with open(path, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            self.assertEqual(n % 8, 0)
            self.assertIn("__metadata__", json.loads(fh.read(n)))

    def test_bf16_is_the_top_half_of_float32(self):
        x = torch.randn(1000) * torch.logspace(-20, 20, 1000)
        path = os.path.join(self.tmp, "x.safetensors")
        write_safetensors(path, {"x": x.bfloat16()})
        f = SafetensorsFile(path)
        bits = f.numpy("x")
        self.assertEqual(bits.dtype, np.dtype("<u2"))
        self.assertTrue(np.array_equal(bits, x.bfloat16().view(torch.int16).numpy().view(np.uint16)))
        self.assertTrue(torch.equal(torch.from_numpy(bf16_to_f32(bits)), x.bfloat16().float()))
        self.assertTrue(torch.equal(f.tensor("x"), x.bfloat16().float()))

    def test_pending_tensors_are_made_when_written(self):
        made = []

        def make():
            made.append(1)
            return self.tensors["c.bf16"]
        a, b = os.path.join(self.tmp, "a.safetensors"), os.path.join(self.tmp, "b.safetensors")
        write_safetensors(a, {"c": self.tensors["c.bf16"]})
        write_safetensors(b, {"c": Pending("BF16", [2, 3, 4], make)})
        self.assertEqual(made, [1])
        with open(a, "rb") as fa, open(b, "rb") as fb:
            self.assertEqual(fa.read(), fb.read())
        with self.assertRaisesRegex(ValueError, "header says"):
            write_safetensors(b, {"c": Pending("BF16", [2, 3, 5], make)})

    def test_reads_are_lazy_views_of_the_file(self):
        path = os.path.join(self.tmp, "x.safetensors")
        write_safetensors(path, self.tensors)
        f = SafetensorsFile(path)
        self.assertIsInstance(f.numpy("a.f32").base, np.ndarray)   # a view into the memory map, not a read
        self.assertEqual(f.shape("c.bf16"), [2, 3, 4])

    def test_shards_through_the_index(self):
        names = list(self.tensors)
        files = write_sharded(self.tmp, [{k: self.tensors[k] for k in names[:2]}, {k: self.tensors[k] for k in names[2:]}])
        self.assertEqual(files, ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
        with open(os.path.join(self.tmp, INDEX_FILE)) as fh:
            index = json.load(fh)
        self.assertEqual(index["weight_map"]["c.bf16"], files[1])
        ck = ShardedCheckpoint(self.tmp)
        self.assertEqual(sorted(ck.names()), sorted(names))
        self.assertTrue(torch.equal(ck.tensor("c.bf16"), self.tensors["c.bf16"].float()))
        with self.assertRaisesRegex(LayoutError, f"{INDEX_FILE}: missing tensor nope"):
            ck.tensor("nope")

    def test_a_file_that_is_not_safetensors_is_refused(self):
        path = os.path.join(self.tmp, "bad.safetensors")
        with open(path, "wb") as fh:
            fh.write(struct.pack("<Q", 5) + b"nope!")
        with self.assertRaisesRegex(LayoutError, "bad.safetensors: not a safetensors file"):
            SafetensorsFile(path)
        with self.assertRaisesRegex(LayoutError, "no model.safetensors and no"):
            ShardedCheckpoint(os.path.join(self.tmp, "."))


if __name__ == "__main__":
    unittest.main()
