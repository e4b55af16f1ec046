"""Both decoder graphs into one decoder_weights.bin when the model is too large to hold twice.

shared_weights.share_decoder_weights (what every package uses) loads both graphs with their weights
and builds the file in memory: at 8B that is ~4 x 32 GB. torch.onnx writes a graph over 2 GB with
every weight in its own file beside it, so each decoder graph is exported into its own folder (the
two graphs' anonymous weight names could collide in one) and this streams them: one tensor in
memory at a time, the same layout (dedup by dtype, dims and sha256; 64-byte alignment; tensors
under MIN_BYTES stay inside their graph), so the package reads the same either way.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from typing import Dict

import onnx
from onnx import TensorProto, numpy_helper
from onnx.external_data_helper import ExternalDataInfo, set_external_data, uses_external_data

from ..shared_weights import ALIGN, MIN_BYTES, WEIGHTS_FILE, share_decoder_weights


def _raw(t: TensorProto, base: str) -> bytes:
    """A tensor's little-endian bytes, from its graph or from the file the exporter put it in."""
    if uses_external_data(t):
        info = ExternalDataInfo(t)
        with open(os.path.join(base, info.location), "rb") as f:
            f.seek(info.offset or 0)
            return f.read(info.length) if info.length else f.read()
    arr = numpy_helper.to_array(t)
    return arr.astype(arr.dtype.newbyteorder("<")).tobytes()


def share_streaming(out_dir: str, sources: Dict[str, str]) -> Dict[str, int]:
    """`sources`: the package's graph name -> where the exporter wrote it. Writes the graphs into
    out_dir pointing into out_dir/decoder_weights.bin; returns its size and the counts, like
    share_decoder_weights."""
    at: Dict[tuple, tuple] = {}
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
            onnx.save(m, os.path.join(out_dir, g))
    os.replace(tmp, os.path.join(out_dir, WEIGHTS_FILE))
    return {"bytes": size, **{f"{g}_tensors": n for g, n in counts.items()}}


def place_decoder_graphs(out_dir: str, sources: Dict[str, str]) -> Dict[str, int]:
    """Moves the exported decoder graphs into the package, sharing one weights file: the exporter's
    own share_decoder_weights when the graphs hold their weights (every model under 2 GB), the
    streaming copy above when torch wrote them to files beside the graphs."""
    large = any(uses_external_data(t) for src in sources.values()
                for t in onnx.load(src, load_external_data=False).graph.initializer)
    if large:
        return share_streaming(out_dir, sources)
    for g, src in sources.items():
        shutil.move(src, os.path.join(out_dir, g))
    return share_decoder_weights(out_dir)
