"""vision.onnx, decoder_frame.onnx, decoder_text.onnx and their parity fixtures for an imported
model, with the exporter's own graph wrappers and helpers (export/package.py), so the decoder graphs have the
inputs, outputs and form of every kibitz package. What differs: SigLIP frames, and decoder_frame
fixtures with the frame separator fed in front of the frame (n = V + 1)."""
from __future__ import annotations

import os
import shutil
from typing import Dict, List

import torch

from ..export.package import OPSET, FrameGraph, TextGraph, VisionGraph, example_past, frame_io, past_names, text_io, write_fixture
from ..model.model import KibitzModel
from ..export.onnx_io import onnx_export
from ..export.shared_weights import place_decoder_graphs


def _frames(cfg, n: int, gen: torch.Generator) -> torch.Tensor:
    """n test frames: noise, then a noisy gradient (a letterboxed picture has structure)."""
    f = torch.randint(0, 256, (n, cfg.frame_height, cfg.frame_width, 3), generator=gen, dtype=torch.uint8)
    if n > 1:
        ramp = (torch.arange(cfg.frame_width) * 255 // max(cfg.frame_width - 1, 1)).to(torch.uint8)
        f[1] = f[1] // 4 + (ramp // 2).view(1, -1, 1)
    return f


class StepGraph(FrameGraph):
    """decoder_frame.onnx of a general package: a frame step as every package's, plus the input
    `vision_tokens` ([1] int64: how many of the step's n tokens are the frame's vision tokens; the
    rest, first, are text). With `vision_tokens` = 0 it is a text step, logits after the last token,
    so the runtime opens this one graph for both kinds of step and holds the weights once
    (manifest decoder.frameGraphRunsText; decoder_text.onnx stays in the package, sharing the same
    weights file, for runtimes before it)."""

    def forward(self, inputs_embeds, positions, vision_tokens, *flat_past):
        return self.step(inputs_embeds, positions, flat_past, vision_tokens)


def _past_lens(cfg, frames: int, text: int) -> List[int]:
    """Cache lengths after `frames` frames (each with its separator) and `text` text tokens."""
    V, k = cfg.tokens_per_frame, cfg.kept_per_frame
    return [frames * ((k if cfg.is_routed(l) else V) + cfg.frame_prefix) + text for l in range(cfg.n_layers)]


def export_graphs(model: KibitzModel, out_dir: str, separator: int, text_ids: List[int]) -> Dict[str, int]:
    """`separator`: the frame separator's token id (fed before a frame that follows a frame);
    `text_ids`: a text step for the text fixture (e.g. "]\\nAssistant:"). Returns what sharing the
    decoder weights wrote (shared_weights.place_decoder_graphs)."""
    cfg = model.cfg
    # each decoder graph in its own folder first: over 2 GB torch writes every weight to a file
    # named after it beside the graph, and the two graphs' anonymous names could collide
    staging = os.path.join(out_dir, ".graphs")
    sources = {g: os.path.join(staging, g[:-len(".onnx")], g) for g in ("decoder_frame.onnx", "decoder_text.onnx")}
    for src in sources.values():
        os.makedirs(os.path.dirname(src), exist_ok=True)
    L, V = cfg.n_layers, cfg.tokens_per_frame
    fx_dir = os.path.join(out_dir, "fixtures")
    os.makedirs(fx_dir, exist_ok=True)
    gen = torch.Generator().manual_seed(1234)
    fnames = past_names(L)
    with torch.no_grad():
        frames = _frames(cfg, 2, gen)
        onnx_export(VisionGraph(model), (frames,), os.path.join(out_dir, "vision.onnx"),
                          input_names=["frames"], output_names=["vision_embeds"], opset_version=OPSET,
                          dynamic_axes={"frames": {0: "n"}, "vision_embeds": {0: "n"}}, do_constant_folding=True)
        vis = model.vision(frames)
        write_fixture(os.path.join(fx_dir, "vision.json"), "vision.onnx", {"frames": frames}, {"vision_embeds": vis},
                      "two frames: noise, and a noisy gradient")
        write_fixture(os.path.join(fx_dir, "vision_one.json"), "vision.onnx", {"frames": frames[1:]},
                      {"vision_embeds": model.vision(frames[1:])}, "one frame (what the runtime sends most)")

        # frame step: the separator then the frame's V tokens (n = V + 1), batch 2, row 1 with padding
        B = 2
        sep = model.embed(torch.tensor([separator])).view(1, 1, -1).expand(B, 1, cfg.d_model)
        emb = torch.cat([sep, vis], dim=1)                                   # (B, V + 1, d)
        pos = torch.arange(V + 1).unsqueeze(0).repeat(B, 1) + 40
        flat = example_past(model, B, _past_lens(cfg, 1, 15), gen)
        onames, axes = frame_io(L)
        graph = StepGraph(model, rotated=True)
        vt = torch.tensor([V], dtype=torch.int64)                            # vision tokens of a frame step
        inames = ["inputs_embeds", "positions", "vision_tokens"] + fnames
        onnx_export(graph, (emb, pos, vt, *flat), sources["decoder_frame.onnx"],
                          input_names=inames, output_names=onames,
                          opset_version=OPSET, dynamic_axes=axes, do_constant_folding=True)

        def frame_fixture(name: str, e, p, v, past, note: str) -> None:
            write_fixture(os.path.join(fx_dir, name), "decoder_frame.onnx", dict(zip(inames, [e, p, v] + past)),
                          dict(zip(onames, graph(e, p, v, *past))), note)
        frame_fixture("decoder_frame.json", emb, pos, vt, flat,
                      "batch 2, separator + frame (n = V + 1) after one frame + 15 text tokens; row 1 has padding")
        frame_fixture("decoder_frame_empty.json", vis[:1], torch.arange(V).unsqueeze(0), vt, example_past(model, 1, [0] * L, gen),
                      "batch 1, a frame alone (n = V), empty past")
        frame_fixture("decoder_frame_after_text.json", vis, pos[:, 1:], vt, example_past(model, B, _past_lens(cfg, 2, 9), gen),
                      "batch 2, a frame after text (n = V, no separator); row 1 has padding")

        # text step: batch 2, 2 frames + 5 text tokens of past
        ids = torch.tensor([text_ids] * B)
        T = ids.shape[1]
        temb = model.embed(ids)
        tpos = torch.arange(T).unsqueeze(0).repeat(B, 1) + 40 + V
        flatt = example_past(model, B, _past_lens(cfg, 2, 5), gen)
        tonames, taxes = text_io(L)
        tgraph = TextGraph(model, rotated=True)
        onnx_export(tgraph, (temb, tpos, *flatt), sources["decoder_text.onnx"],
                          input_names=["inputs_embeds", "positions"] + fnames, output_names=tonames,
                          opset_version=OPSET, dynamic_axes=taxes, do_constant_folding=True)
        write_fixture(os.path.join(fx_dir, "decoder_text.json"), "decoder_text.onnx",
                      dict(zip(["inputs_embeds", "positions"] + fnames, [temb, tpos] + flatt)),
                      dict(zip(tonames, tgraph(temb, tpos, *flatt))), f"batch 2, T={T} text tokens, 2 frames + 5 text of past; row 1 has padding")
        # the same text step through decoder_frame.onnx (vision_tokens = 0): what the runtime runs
        text_out = tgraph(temb, tpos, *flatt)
        frame_fixture("decoder_frame_text.json", temb, tpos, torch.zeros(1, dtype=torch.int64), flatt,
                      f"batch 2, the T={T} text step of decoder_text.json through decoder_frame.onnx (vision_tokens = 0)")
        step_out = graph(temb, tpos, torch.zeros(1, dtype=torch.int64), *flatt)
        assert torch.allclose(step_out[0], text_out[0][:, -1], atol=1e-5), "decoder_frame.onnx as a text step must give decoder_text's last logits"
    shared = place_decoder_graphs(out_dir, sources)
    shutil.rmtree(staging)
    return shared
