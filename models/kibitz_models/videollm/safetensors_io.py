"""Read and write safetensors without the `safetensors` package.

The format: an 8-byte little-endian u64 header length, a JSON header
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}} (offsets relative to
the end of the header), then the raw little-endian bytes. Files are memory-mapped and each tensor is
read on request, so an 8B checkpoint is never in memory twice; a sharded checkpoint is a folder with
model.safetensors.index.json {"weight_map": {name: shard file}}.
"""
from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional

import numpy as np
import torch

from .errors import LayoutError

# dtype name -> (numpy dtype of the stored bytes, bytes per element)
_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"), "I64": np.dtype("<i8"),
           "I32": np.dtype("<i4"), "U8": np.dtype("u1"), "BOOL": np.dtype("u1"), "F64": np.dtype("<f8")}
INDEX_FILE = "model.safetensors.index.json"


def bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) -> float32: bf16 is the top half of a float32."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


class SafetensorsFile:
    """One .safetensors file: names, shapes and dtypes from its header; tensors read lazily."""

    def __init__(self, path: str):
        self.path = path
        if not os.path.isfile(path):
            raise LayoutError(f"{path}: file not found")
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                raise LayoutError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
            (n,) = struct.unpack("<Q", raw)
            if n > 100_000_000:
                raise LayoutError(f"{path}: not a safetensors file (header length {n})")
            try:
                header = json.loads(f.read(n))
            except ValueError as e:
                raise LayoutError(f"{path}: not a safetensors file (header is not JSON: {e})") from None
        self.metadata: Dict[str, str] = header.pop("__metadata__", None) or {}
        self.header: Dict[str, dict] = header
        self._data_start = 8 + n
        self._map: Optional[np.memmap] = None

    def names(self) -> List[str]:
        return list(self.header)

    def __contains__(self, name: str) -> bool:
        return name in self.header

    def shape(self, name: str) -> List[int]:
        return list(self._entry(name)["shape"])

    def dtype(self, name: str) -> str:
        return self._entry(name)["dtype"]

    def _entry(self, name: str) -> dict:
        if name not in self.header:
            raise LayoutError(f"{os.path.basename(self.path)}: missing tensor {name}")
        return self.header[name]

    def numpy(self, name: str) -> np.ndarray:
        """The stored values (BF16 as its uint16 bits), a view into the memory map."""
        e = self._entry(name)
        if e["dtype"] not in _DTYPES:
            raise LayoutError(f"{os.path.basename(self.path)}: tensor {name} has dtype {e['dtype']}: only {sorted(_DTYPES)} are read")
        if self._map is None:
            self._map = np.memmap(self.path, dtype=np.uint8, mode="r")
        begin, end = e["data_offsets"]
        dt = _DTYPES[e["dtype"]]
        count = int(np.prod(e["shape"], dtype=np.int64))
        if end - begin != count * dt.itemsize:
            raise LayoutError(f"{os.path.basename(self.path)}: tensor {name} holds {end - begin} bytes, its shape {e['shape']} needs {count * dt.itemsize}")
        buf = self._map[self._data_start + begin: self._data_start + end]
        return buf.view(dt).reshape(e["shape"])

    def tensor(self, name: str, float32: bool = True) -> torch.Tensor:
        """A new torch tensor (float32 for every float dtype unless float32=False)."""
        e = self._entry(name)
        a = self.numpy(name)
        if e["dtype"] == "BF16":   # the stored bits, reinterpreted by torch (multi-threaded, unlike numpy)
            t = torch.from_numpy(np.array(a).view(np.int16)).view(torch.bfloat16)
            return t.float() if float32 else t
        if e["dtype"] == "BOOL":
            return torch.from_numpy(a.astype(np.bool_))
        a = np.array(a, dtype=a.dtype.newbyteorder("="))   # a copy: the memory map stays read-only
        t = torch.from_numpy(a)
        return t.float() if float32 and t.is_floating_point() else t


class ShardedCheckpoint:
    """A folder's weights: one model.safetensors, or shards listed by model.safetensors.index.json."""

    def __init__(self, folder: str, single: str = "model.safetensors"):
        self.folder = folder
        index = os.path.join(folder, INDEX_FILE)
        self.files: Dict[str, SafetensorsFile] = {}
        self.where: Dict[str, str] = {}
        if os.path.isfile(index):
            with open(index) as f:
                try:
                    weight_map = json.load(f)["weight_map"]
                except (ValueError, KeyError):
                    raise LayoutError(f"{index}: no weight_map: is it a safetensors index?") from None
            for name, shard in weight_map.items():
                if shard not in self.files:
                    self.files[shard] = SafetensorsFile(os.path.join(folder, shard))
                if name not in self.files[shard]:
                    raise LayoutError(f"{shard}: missing tensor {name} (listed in {INDEX_FILE})")
                self.where[name] = shard
        elif os.path.isfile(os.path.join(folder, single)):
            self.files[single] = SafetensorsFile(os.path.join(folder, single))
            self.where = {n: single for n in self.files[single].names()}
        else:
            raise LayoutError(f"{folder}: no {single} and no {INDEX_FILE}: expected the model's safetensors weights "
                              "(convert .bin/.pth weights to safetensors first)")

    def __contains__(self, name: str) -> bool:
        return name in self.where

    def names(self) -> List[str]:
        return list(self.where)

    def file_of(self, name: str) -> str:
        return self.where.get(name, INDEX_FILE if len(self.files) > 1 else next(iter(self.files)))

    def shape(self, name: str) -> List[int]:
        return self._file(name).shape(name)

    def tensor(self, name: str, float32: bool = True) -> torch.Tensor:
        return self._file(name).tensor(name, float32)

    def _file(self, name: str) -> SafetensorsFile:
        if name not in self.where:
            raise LayoutError(f"{os.path.join(os.path.basename(self.folder), self.file_of(name))}: missing tensor {name}")
        return self.files[self.where[name]]


# ----------------------------------------------------------------------------- writing

_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64",
          torch.int32: "I32", torch.uint8: "U8", torch.float64: "F64"}


@dataclass
class Pending:
    """A tensor made only when its bytes are written, so a full-size checkpoint is written one
    tensor at a time; `make()` must return `shape` in `dtype` (a _NAMES value)."""
    dtype: str
    shape: List[int]
    make: Callable[[], torch.Tensor]


def _as_torch(t) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(t)) if isinstance(t, np.ndarray) else t.detach().cpu()


def _meta(t) -> tuple:
    """(dtype name, shape) of a tensor, numpy array or Pending, without touching its values."""
    if isinstance(t, Pending):
        return t.dtype, list(t.shape)
    t = _as_torch(t)
    if t.dtype not in _NAMES:
        raise ValueError(f"cannot write dtype {t.dtype} to safetensors")
    return _NAMES[t.dtype], list(t.shape)


def _bytes(t) -> bytes:
    """Little-endian bytes (this runs on little-endian machines; bfloat16 as its bits)."""
    t = _as_torch(t.make() if isinstance(t, Pending) else t).contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def write_safetensors(path: str, tensors: Dict[str, object], metadata: Optional[Dict[str, str]] = None) -> int:
    """Writes `tensors` (torch, bfloat16 included, numpy, or Pending) in the order given, one at a
    time; returns the data bytes."""
    header: Dict[str, object] = {}
    offset = 0
    for name, t in tensors.items():
        dtype, shape = _meta(t)
        size = int(np.prod(shape, dtype=np.int64)) * _DTYPES[dtype].itemsize
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)   # the reference writer pads the header to 8 bytes with spaces
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for name, t in tensors.items():
            raw = _bytes(t)
            begin, end = header[name]["data_offsets"]
            if len(raw) != end - begin:
                raise ValueError(f"{name}: made {len(raw)} bytes, its header says {end - begin}")
            f.write(raw)
    os.replace(tmp, path)
    return offset


def write_sharded(folder: str, shards: Iterable[Dict[str, object]], metadata: Optional[Dict[str, str]] = None) -> List[str]:
    """Writes model-0000i-of-0000n.safetensors for each dict of `shards` plus the index; returns the file names."""
    shards = list(shards)
    n = len(shards)
    weight_map: Dict[str, str] = {}
    files = []
    total = 0
    for i, tensors in enumerate(shards, 1):
        fname = f"model-{i:05d}-of-{n:05d}.safetensors"
        total += write_safetensors(os.path.join(folder, fname), tensors, metadata or {"format": "pt"})
        weight_map.update({name: fname for name in tensors})
        files.append(fname)
    with open(os.path.join(folder, INDEX_FILE), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    return files
