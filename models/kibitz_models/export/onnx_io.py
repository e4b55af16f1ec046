"""One way to write an ONNX graph from a torch module, for every exporter in the toolkit."""
from __future__ import annotations

import inspect

import torch


def onnx_export(module, args, path, **kwargs) -> None:
    """torch.onnx.export with the TorchScript exporter every package was made with. torch >= 2.9
    (the GPU machines have 2.11) defaults to the dynamo exporter, which ignores our custom
    symbolics (one constant Reshape) and dynamic_axes; torch 1.13 has no `dynamo` argument."""
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    torch.onnx.export(module, args, path, **kwargs)
