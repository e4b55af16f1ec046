"""The decoder's weights, stored once for both decoder graphs.

decoder_frame.onnx and decoder_text.onnx run the same decoder, so each used to carry its own copy
of every weight (9.9 MB each). `share_decoder_weights` writes every initializer of at least
`MIN_BYTES` once into `decoder_weights.bin` next to them and makes both graphs point into it (ONNX
external data: location, offset, length). onnxruntime resolves the file relative to the graph it
loads, `onnx.load` reads it back into the tensors, and the values are the same bytes, so parity
fixtures hold unchanged. Small tensors (shapes, scalars) stay inside their graph.

One tensor is in memory at a time, whether a graph holds its weights inside or, as torch.onnx
writes a graph over 2 GB, in files beside it: an 8B model is never held twice (`write_shared`).
"""
from __future__ import annotations

import hashlib
import os
import shutil
from typing import Dict

import onnx
from onnx import TensorProto, numpy_helper
from onnx.external_data_helper import ExternalDataInfo, set_external_data, uses_external_data

WEIGHTS_FILE = "decoder_weights.bin"
GRAPHS = ("decoder_frame.onnx", "decoder_text.onnx")
MIN_BYTES = 1024
ALIGN = 64


def share_decoder_weights(pkg_dir: str) -> Dict[str, int]:
    """Rewrites the package's two decoder graphs to share one weights file; returns its size and how
    many tensors each graph points into it. Safe to run again on a package that already shares."""
    return write_shared(pkg_dir, {g: os.path.join(pkg_dir, g) for g in GRAPHS})


def place_decoder_graphs(out_dir: str, sources: Dict[str, str]) -> Dict[str, int]:
    """Writes graphs exported elsewhere (each in its own folder: over 2 GB torch writes every weight
    to a file named after it beside the graph, and two graphs' anonymous names could collide) into
    out_dir, sharing one weights file, and removes the staged copies."""
    report = write_shared(out_dir, sources)
    for src in sources.values():
        shutil.rmtree(os.path.dirname(src), ignore_errors=True)
    return report


def _raw(t: TensorProto, base: str) -> bytes:
    """A tensor's little-endian bytes, from its graph or from the file its external data names."""
    if uses_external_data(t):
        info = ExternalDataInfo(t)
        with open(os.path.join(base, info.location), "rb") as f:
            f.seek(info.offset or 0)
            return f.read(info.length) if info.length else f.read()
    arr = numpy_helper.to_array(t)
    return arr.astype(arr.dtype.newbyteorder("<")).tobytes()   # external data is little-endian


def write_shared(out_dir: str, sources: Dict[str, str]) -> Dict[str, int]:
    """`sources`: graph name -> where that graph is now. Writes each graph into out_dir pointing into
    out_dir/decoder_weights.bin (deduplicated by dtype, dims and sha256; 64-byte aligned), one tensor
    in memory at a time; tensors under MIN_BYTES go back inside their graph."""
    at: Dict[tuple, tuple] = {}   # (dtype, dims, sha256) -> (offset, length)
    counts: Dict[str, int] = {}
    size = 0
    tmp = os.path.join(out_dir, WEIGHTS_FILE + ".tmp")
    with open(tmp, "wb") as blob:
        for g, src in sources.items():
            m = onnx.load(src, load_external_data=False)
            base = os.path.dirname(src)
            n = 0
            for t in m.graph.initializer:
                external = uses_external_data(t)
                raw = _raw(t, base)
                if len(raw) < MIN_BYTES and not external:
                    continue                               # stays inside its graph, untouched
                for field in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data"):
                    t.ClearField(field)
                del t.external_data[:]
                t.data_location = TensorProto.DEFAULT
                t.raw_data = raw                           # a small one is back inside; set_external_data wants it present
                if len(raw) < MIN_BYTES:
                    continue
                key = (t.data_type, tuple(t.dims), hashlib.sha256(raw).hexdigest())
                if key not in at:
                    pad = -size % ALIGN
                    blob.write(b"\0" * pad)
                    at[key] = (size + pad, len(raw))
                    blob.write(raw)
                    size += pad + len(raw)
                offset, length = at[key]
                set_external_data(t, WEIGHTS_FILE, offset, length)
                t.data_location = TensorProto.EXTERNAL
                t.ClearField("raw_data")
                n += 1
            counts[g] = n
            onnx.save(m, os.path.join(out_dir, g))         # points into the new file, which replaces the old below
    os.replace(tmp, os.path.join(out_dir, WEIGHTS_FILE))
    return {"bytes": size, **{f"{g}_tensors": n for g, n in counts.items()}}
