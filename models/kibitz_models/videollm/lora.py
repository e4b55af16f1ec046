"""The adapter's tensors: LoRA pairs per Llama linear layer and the connector (PEFT's saved names).

PEFT saves a LoRA on module M of the base model as base_model.model.M.lora_A.weight [r, in] and
.lora_B.weight [out, r]; a module in modules_to_save (VideoLLM-online's connector) as
base_model.model.connector.<i>.weight/bias. Anything else in the file is refused by name.
"""
from __future__ import annotations

import os
import re
from typing import Dict, List, Tuple

import torch

from .errors import LayoutError
from .layout import ADAPTER_WEIGHTS, where
from .safetensors_io import SafetensorsFile
from .specs import AdapterSpec, LlamaSpec

PREFIX = "base_model.model."
CONNECTOR = ("connector.0.weight", "connector.0.bias", "connector.2.weight", "connector.2.bias")
# older PEFT versions keep the adapter's name ("default") in the saved key
_LORA = re.compile(r"^(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.default)?\.weight$")


def llama_linears(layers: int) -> List[str]:
    """Every linear layer a LoRA may target, by its name in the base model."""
    names = []
    for i in range(layers):
        names += [f"model.layers.{i}.self_attn.{p}_proj" for p in "qkvo"]
        names += [f"model.layers.{i}.mlp.{p}_proj" for p in ("gate", "up", "down")]
    return names + ["lm_head"]


class AdapterWeights:
    """adapter_model.safetensors, checked against adapter_config.json and the base model's shapes."""

    def __init__(self, folder: str, spec: AdapterSpec, llama: LlamaSpec, base_shape):
        """`base_shape(module)`: [out, in] of the base weight of that linear layer."""
        path = os.path.join(folder, ADAPTER_WEIGHTS)
        if not os.path.isfile(path):
            bin_ = os.path.isfile(os.path.join(folder, "adapter_model.bin"))
            raise LayoutError(f"{where(folder, ADAPTER_WEIGHTS)}: file not found"
                              + ("; convert adapter_model.bin to safetensors first" if bin_ else ""))
        self.file = SafetensorsFile(path)
        self.where = where(folder, ADAPTER_WEIGHTS)
        self.spec = spec
        self.pairs: Dict[str, Dict[str, str]] = {}   # module -> {"A": tensor name, "B": tensor name}
        linears = set(llama_linears(llama.layers))
        for name in self.file.names():
            if not name.startswith(PREFIX):
                raise LayoutError(f"{self.where}: tensor {name} does not start with {PREFIX}: not a PEFT causal-LM adapter")
            rest = name[len(PREFIX):]
            if rest in CONNECTOR:
                continue
            m = _LORA.match(rest)
            if m is None or m.group("module") not in linears:
                raise LayoutError(f"{self.where}: tensor {name}: only LoRA A/B of the Llama linear layers and the connector "
                                  "are supported (DoRA magnitudes, embedding LoRAs, biases are not); merge it with PEFT first")
            self.pairs.setdefault(m.group("module"), {})[m.group("ab")] = name
        for c in CONNECTOR:
            if PREFIX + c not in self.file:
                raise LayoutError(f"{self.where}: missing tensor {PREFIX + c} (the connector, saved through modules_to_save)")
        for module in llama_linears(llama.layers):
            targeted = spec.targets_module(module)
            if module in self.pairs and not targeted:
                raise LayoutError(f"{self.where}: tensor {next(iter(self.pairs[module].values()))}: "
                                  f"adapter_config.json target_modules does not name {module}")
            if targeted:
                for ab in "AB":
                    if ab not in self.pairs.get(module, {}):
                        raise LayoutError(f"{self.where}: missing tensor {PREFIX}{module}.lora_{ab}.weight "
                                          f"(adapter_config.json target_modules names {module})")
                out_f, in_f = base_shape(module)
                self._check(self.pairs[module]["A"], [spec.r, in_f], f"r x in_features of {module}")
                self._check(self.pairs[module]["B"], [out_f, spec.r], f"out_features x r of {module}")

    def _check(self, name: str, want: List[int], what: str) -> None:
        got = self.file.shape(name)
        if got != want:
            raise LayoutError(f"{self.where}: tensor {name} has shape {got}, expected {want} ({what})")

    def targets(self) -> List[str]:
        return sorted(self.pairs)

    def pair(self, module: str) -> Tuple[torch.Tensor, torch.Tensor]:
        """(A [r, in], B [out, r]) in float32."""
        p = self.pairs[module]
        return self.file.tensor(p["A"]), self.file.tensor(p["B"])

    def merged(self, module: str, weight: torch.Tensor) -> torch.Tensor:
        """W + scale * B @ A (PEFT's merge), or W when the module has no LoRA."""
        if module not in self.pairs:
            return weight
        a, b = self.pair(module)
        return weight.addmm_(b, a, alpha=self.spec.scale)

    def connector(self) -> Dict[str, torch.Tensor]:
        """connector.{0,2}.{weight,bias} in float32."""
        return {c: self.file.tensor(PREFIX + c) for c in CONNECTOR}
