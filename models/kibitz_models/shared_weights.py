"""The decoder's weights, stored once for both decoder graphs.

decoder_frame.onnx and decoder_text.onnx run the same decoder, so each used to carry its own copy
of every weight (9.9 MB each). `share_decoder_weights` writes every initializer of at least
`MIN_BYTES` once into `decoder_weights.bin` next to them and makes both graphs point into it (ONNX
external data: location, offset, length). onnxruntime resolves the file relative to the graph it
loads, `onnx.load` reads it back into the tensors, and the values are the same bytes, so parity
fixtures hold unchanged. Small tensors (shapes, scalars) stay inside their graph.
"""
from __future__ import annotations

import hashlib
import os
from typing import Dict

import onnx
from onnx import TensorProto, numpy_helper
from onnx.external_data_helper import set_external_data

WEIGHTS_FILE = "decoder_weights.bin"
GRAPHS = ("decoder_frame.onnx", "decoder_text.onnx")
MIN_BYTES = 1024
ALIGN = 64


def share_decoder_weights(pkg_dir: str) -> Dict[str, int]:
    """Rewrites the package's two decoder graphs to share one weights file; returns its size and how
    many tensors each graph points into it. Safe to run again on a package that already shares."""
    models = {g: onnx.load(os.path.join(pkg_dir, g), load_external_data=True) for g in GRAPHS}
    blob = bytearray()
    at: Dict[tuple, tuple] = {}   # (dtype, dims, sha256) -> (offset, length)
    counts = {}
    for g, m in models.items():
        n = 0
        for t in m.graph.initializer:
            arr = numpy_helper.to_array(t)
            raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()   # external data is little-endian
            if len(raw) < MIN_BYTES:
                continue
            key = (t.data_type, tuple(t.dims), hashlib.sha256(raw).hexdigest())
            if key not in at:
                blob += b"\0" * (-len(blob) % ALIGN)
                at[key] = (len(blob), len(raw))
                blob += raw
            offset, length = at[key]
            for field in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data"):
                t.ClearField(field)
            t.raw_data = raw                       # set_external_data wants it present; the file holds it now
            del t.external_data[:]
            set_external_data(t, WEIGHTS_FILE, offset, length)
            t.data_location = TensorProto.EXTERNAL
            t.ClearField("raw_data")
            n += 1
        counts[g] = n
    tmp = os.path.join(pkg_dir, WEIGHTS_FILE + ".tmp")
    with open(tmp, "wb") as f:
        f.write(bytes(blob))
    os.replace(tmp, os.path.join(pkg_dir, WEIGHTS_FILE))
    for g, m in models.items():
        onnx.save(m, os.path.join(pkg_dir, g))
    return {"bytes": len(blob), **{f"{g}_tensors": n for g, n in counts.items()}}
