"""Toolkit commands. Run from the repo root:

    /usr/bin/python3 -m kibitz_models.cli <command> ...     (with PYTHONPATH=models)

  init      write an untrained checkpoint            export    checkpoint -> ONNX package (+ parity)
  data      render + encode + decode training data   train     train a checkpoint on CPU
  samples   write held-out sample broadcasts         evaluate  score a checkpoint on held-out seeds
  cost      per-frame decoder FLOPs / KV for MoD vs dense
  outworld  render + decode out-of-world clips (train / val / heldout families)
  world     train the in-world head on a package's frozen encoder, choose its threshold, export world.onnx
  import    rebuild a trainable checkpoint from a package (checked against its fixtures), to continue training
  regraph   rewrite a package's decoder graphs in the current form (rotated past keys, constant reshapes, shared weights), from its own weights
  baseline  QA accuracy of always answering the most common training answer
  record    record a real game playing itself with its own timed events (games/record.py)
  game-data recordings -> training streams (frames + events), like `data` for the demo world
  game-samples  held-out recordings -> sample broadcasts with ground truth (bench/broadcast.ts)
  slim      checkpoint -> float16 copy to commit (resume from it with train --resume)
  copy-probe  how well checkpoints copy line stamps into "when" answers (digit CE / accuracy)
  questions   train a package's question classifier (viewers' words -> a question kind, or none)
  questions-check  that classifier on the held-out phrasings, with the near-copy check
  import-videollm     a VideoLLM-online (live1+) checkpoint -> a general package (videollm/importer.py)
  videollm-tiny       write a tiny random VideoLLM-online checkpoint in the public layout (for tests)
  videollm-reference  replay a runtime trace through an independent PyTorch reference of such a checkpoint
  train-routers       MoD routers for a dense VideoLLM-online checkpoint, distilled from it on unlabelled recordings
  router-table        trained vs random routers vs first-k / last-k heuristics against the dense model on a held-out recording
"""
from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="kibitz_models", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("init"); s.add_argument("--out", required=True); s.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("export")
    s.add_argument("--checkpoint", required=True); s.add_argument("--out", required=True)
    s.add_argument("--name", default="kibitz-demo"); s.add_argument("--no-parity", action="store_true")
    s.add_argument("--threshold", type=float, default=None, help="decision threshold written to the manifest")
    s.add_argument("--world-from", default=None, help="carry this package's in-world head (refused unless the vision encoder is the same)")
    s.add_argument("--no-questions", action="store_true", help="leave out the question classifier (cli questions adds it later; a minute on a CPU)")
    s.add_argument("--temporal-default", choices=["on", "off"], default=None,
                   help="for a checkpoint trained with the temporal drop: whether the runtime runs it when its config says auto (manifest temporal.default)")
    s = sub.add_parser("data")
    s.add_argument("--out", default="models/.cache/data"); s.add_argument("--streams", type=int, default=160)
    s.add_argument("--seconds", type=float, default=60.0); s.add_argument("--first-seed", type=int, default=1000)
    s.add_argument("--jobs", type=int, default=2)
    s.add_argument("--size", default="640x360", help="render size before H.264 (eval: 1280x720)")
    s.add_argument("--src-fps", type=int, default=4, help="render/encode fps (eval: 30)")
    s = sub.add_parser("samples"); s.add_argument("--out", default="models/samples")
    s.add_argument("--seeds", default=None, help="comma-separated seeds instead of the bundled samples' (e.g. more held-out broadcasts)")
    s = sub.add_parser("train")
    s.add_argument("--data", default="models/.cache/data"); s.add_argument("--out", required=True)
    s.add_argument("--minutes", type=float, default=40.0); s.add_argument("--keep-ratio", type=float, default=0.2)
    s.add_argument("--seed", type=int, default=0); s.add_argument("--resume", default=None)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--lr", type=float, default=1.5e-3); s.add_argument("--warmup", type=int, default=60)
    s.add_argument("--decision-weight", type=float, default=1.0)
    s.add_argument("--vision", default=None, help="start from this pretrained vision encoder (`cli vision`)")
    s.add_argument("--freeze-vision", action="store_true", help="keep the encoder fixed; train projector + decoder")
    s.add_argument("--prefer-question", default=None, help="a question kind asked first whenever answerable (e.g. when_hit)")
    s.add_argument("--hit-clips", type=float, default=0.0, help="share of clips that start just before a hit (when_hit practice)")
    s.add_argument("--time-digits", type=int, default=0, help="give the model a stream clock of this many digits (0 = keep what it has)")
    s.add_argument("--clock-text", action=argparse.BooleanOptionalAction, default=None,
                   help="stamp text tokens with the stream clock too (or not); default: as the resumed model has it")
    s.add_argument("--fixed-vision", action="store_true", help="train the decoder only: vision_embeds (and the in-world head on them) stay valid")
    s.add_argument("--steps", type=int, default=None, help="train exactly this many steps (LR schedule over steps, not minutes)")
    s.add_argument("--variant", default=None, help="reshape the resumed model first: interleaved, deep, deep-r0.12, deep-r0.3, deep2, dense (variants.py)")
    s.add_argument("--temporal", action="store_true", help="train with the temporal token drop (temporal.py): unchanged grid tokens stay out")
    s.add_argument("--game", default=None, choices=["demo", "chess"], help="what the data holds (default: what its <id>.json say); "
                   "resuming another game's weights re-labels the model (games/catalogue.py)")
    s.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"], help="where to train (auto: cuda when torch sees a GPU)")
    s.add_argument("--line-stamp", action=argparse.BooleanOptionalAction, default=None,
                   help="feed each commentary line after its stream time as text (default: keep the resumed model's setting)")
    s.add_argument("--freeze-clips", type=float, default=0.0, help="share of clips with a still picture of 2-10 frames in them (for --temporal)")
    s.add_argument("--temporal-share", type=float, default=1.0, help="with --temporal: share of clips built with the drop; the rest feed every token (one set of weights for both ways)")
    s.add_argument("--teacher", default=None, help="also learn this checkpoint's outputs (KL), e.g. the model a --variant was reshaped from")
    s.add_argument("--distill", type=float, default=1.0, help="weight of the teacher's KL term (with --teacher)")
    s = sub.add_parser("train-alike", help="MoD variants from one start on the same batches (train_alike.py)")
    s.add_argument("--data", default="models/.cache/data"); s.add_argument("--out-dir", required=True)
    s.add_argument("--resume", required=True, help="the start every variant is reshaped from (cli import makes one from a package)")
    s.add_argument("--variants", default="dense,interleaved,deep", help="comma-separated (variants.py)")
    s.add_argument("--steps", type=int, default=None, help="the schedule's length (at most this many with --minutes)")
    s.add_argument("--minutes", type=float, default=None, help="wall-clock budget: the steps are fixed from the pace after 20")
    s.add_argument("--batch", type=int, default=32); s.add_argument("--workers", type=int, default=8)
    s.add_argument("--seed", type=int, default=21); s.add_argument("--lr", type=float, default=6e-4)
    s.add_argument("--warmup", type=int, default=30); s.add_argument("--decision-weight", type=float, default=3.0)
    s.add_argument("--device", default="auto"); s.add_argument("--threads", type=int, default=1)
    s.add_argument("--save-every", type=float, default=120.0, help="seconds between checkpoint saves")
    s.add_argument("--teacher", default=None, help="a checkpoint every variant also learns from (distillation)")
    s.add_argument("--distill", type=float, default=1.0)
    s = sub.add_parser("vision", help="stage 1: pretrain the vision encoder on per-frame ground truth")
    s.add_argument("--data", default="models/.cache/data"); s.add_argument("--out", required=True)
    s.add_argument("--eval", default=None, help="held-out frames to report per-target accuracy on")
    s.add_argument("--minutes", type=float, default=20.0); s.add_argument("--batch", type=int, default=96)
    s.add_argument("--lr", type=float, default=2e-3); s.add_argument("--seed", type=int, default=0)
    s.add_argument("--threads", type=int, default=2)
    s = sub.add_parser("evaluate")
    s.add_argument("--checkpoint", required=True); s.add_argument("--data", default="models/.cache/eval")
    s.add_argument("--out", default=None); s.add_argument("--threshold", type=float, default=None)
    s.add_argument("--max-streams", type=int, default=None); s.add_argument("--threads", type=int, default=2)
    s.add_argument("--clock-offset", type=int, default=0, help="stream clock ahead of the HUD clock by this many seconds")
    s.add_argument("--temporal", default="auto", choices=["auto", "on", "off"], help="temporal token drop: as trained (auto: on for any checkpoint trained with it, even one exported with temporal.default off), always, never")
    s = sub.add_parser("copy-probe", help="how well models copy line stamps into 'when' answers (copy_probe.py)")
    s.add_argument("--checkpoint", nargs="+", required=True); s.add_argument("--data", default="models/.cache/world/in_val")
    s.add_argument("--clips", type=int, default=16); s.add_argument("--seed", type=int, default=7)
    s.add_argument("--threads", type=int, default=1)
    s = sub.add_parser("still", help="events right after a still picture: how many the model reports (still_probe.py)")
    s.add_argument("--checkpoint", required=True); s.add_argument("--data", default="models/.cache/world/in_val")
    s.add_argument("--out", default=None); s.add_argument("--max-streams", type=int, default=None); s.add_argument("--threads", type=int, default=2)
    s.add_argument("--temporal", default="auto", choices=["auto", "on", "off"], help="temporal token drop: as trained (auto: on for any checkpoint trained with it, even one exported with temporal.default off), always, never")
    s.add_argument("--still", type=int, default=6, help="frames the picture stands still before the event")
    s = sub.add_parser("cost")
    s.add_argument("--tokens", type=float, default=None, help="also the cost of frames of this many fed tokens on average (temporal drop)")
    s.add_argument("--package", default=None, help="instead: one frame step of this package's shape (from_package.package_cost)")
    s.add_argument("--context", default=None, help="with --package: comma-separated cached slots each layer attends over")
    s = sub.add_parser("outworld", help="out-of-world clips for the in-world head (outworld.py)")
    s.add_argument("--out", required=True); s.add_argument("--split", required=True, choices=["train", "val", "heldout", "train_x", "val_x", "heldout_x"])
    s.add_argument("--clips", type=int, default=8, help="clips per family"); s.add_argument("--seconds", type=float, default=30.0)
    s.add_argument("--view-of", default=None, choices=["chess"], help="decode through this game's view (a package with frame.view)")
    s = sub.add_parser("view-frames", help="frames through a game's view: videos decoded exactly, stored frames cropped (views.py)")
    s.add_argument("--src", required=True, help="a folder of <name>.mp4 and/or <name>.npy (+ <name>.json, copied)")
    s.add_argument("--out", required=True); s.add_argument("--game", default="chess", choices=["chess"])
    s = sub.add_parser("augment", help="recordings -> variants a real canvas makes (scale, resampler, bitrate, encoder, crop, colour range, overlay) with their views (data/augment.py)")
    s.add_argument("--recordings", required=True); s.add_argument("--out", required=True)
    s.add_argument("--variants", type=int, default=3, help="variants per recording"); s.add_argument("--seed", type=int, default=0)
    s.add_argument("--max-scale", type=float, default=2.0, help="largest scale drawn (encoding a 2x variant takes 4x as long)")
    s.add_argument("--game", default="chess", choices=["chess"])
    s = sub.add_parser("game-identity", help="held-out games vs training games: most consecutive plies shared (games/identity.py); exit 2 past the limit")
    s.add_argument("--train", required=True, action="append", help="folder of training recordings (<name>.pgn), or of replayed games (cli replay-games); repeat"); s.add_argument("--heldout", required=True)
    s.add_argument("--max-shared", type=int, default=10)
    s = sub.add_parser("replay-games", help="the games a recording with this seed plays, replayed at engine speed without video -> <out>/replay_<seed>.pgn (games/record.py; for game-identity when a recording is gone)")
    s.add_argument("--seed", type=int, required=True); s.add_argument("--games", type=int, required=True)
    s.add_argument("--depth", type=int, default=4); s.add_argument("--depths", default=None, help="as the recording had them, e.g. 2,3,4,5")
    s.add_argument("--out", required=True)
    s = sub.add_parser("view-reference", help="the package's view reference (its mean in-world picture) for the service's view search (export/view_reference.py)")
    s.add_argument("--package", required=True); s.add_argument("--video", action="append", required=True, help="a recording of the game (training or made for this; never held out); repeat")
    s.add_argument("--source", default=None, help="a note of where the videos came from, kept in the manifest")
    s = sub.add_parser("import", help="package -> checkpoint (from_package.py), to resume training from what ships")
    s.add_argument("--package", required=True); s.add_argument("--out", required=True)
    s = sub.add_parser("regraph", help="a package's decoder graphs -> the current form (rotated past keys, constant reshapes, one shared decoder_weights.bin), same weights, rest kept")
    s.add_argument("--package", required=True)
    s = sub.add_parser("recall", help="write the game's memory-question rules into a package's manifest (export does it too)")
    s.add_argument("--package", required=True)
    s = sub.add_parser("questions", help="train a package's question classifier (questions.json) and write its questions block")
    s.add_argument("--package", required=True); s.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("questions-check", help="a package's question classifier on held-out phrasings, with the near-copy check (report only)")
    s.add_argument("--package", required=True); s.add_argument("--json", action="store_true")
    s.add_argument("--sets", default="models/tests/question_sets/heldout_reworded.json,models/tests/question_sets/heldout_report.json")
    s = sub.add_parser("slim", help="checkpoint -> float16 copy (half the size) to commit and resume from")
    s.add_argument("--checkpoint", required=True); s.add_argument("--out", required=True)
    s = sub.add_parser("world", help="train + calibrate + export the in-world head (inworld.py)")
    s.add_argument("--package", required=True, help="package whose vision encoder the head reads (world.onnx is written there)")
    s.add_argument("--in-train", required=True); s.add_argument("--out-train", required=True)
    s.add_argument("--in-val", required=True); s.add_argument("--out-val", required=True)
    s.add_argument("--minutes", type=float, default=4.0); s.add_argument("--seed", type=int, default=0)
    s.add_argument("--min-in-recall", type=float, default=0.995)
    s.add_argument("--hud-rows", type=int, default=0, help="in-world frames with their top N rows painted over are negatives too (the demo world: 20)")
    s.add_argument("--save", default=None, help="also save the head's weights here (.pt)")
    s = sub.add_parser("baseline", help="QA accuracy of always giving the most common training answer")
    s = sub.add_parser("game-data", help="recordings (cli record) -> training streams <id>.npy + <id>.json (games/chess.py)")
    s.add_argument("--game", default="chess", choices=["chess"]); s.add_argument("--recordings", required=True)
    s.add_argument("--out", required=True); s.add_argument("--chunk-s", type=float, default=60.0)
    s.add_argument("--first-id", type=int, default=1)
    s.add_argument("--full-frame", action="store_true", help="the whole frame letterboxed, not the game's view (packages before the view)")
    s = sub.add_parser("game-samples", help="held-out recordings -> sample broadcasts with ground truth (games/chess.py)")
    s.add_argument("--game", default="chess", choices=["chess"]); s.add_argument("--recordings", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--seconds", type=float, default=None, help="keep the first N seconds (re-encoded at crf 30, to ship small)")
    s.add_argument("--only", default=None, help="comma-separated recording names (default: all)")
    s.add_argument("--train", action="append", default=None, help="folder of training games (<name>.pgn: recordings or cli replay-games); repeat. Each sample then carries its game-identity check, and a copy of a training game is refused")
    s = sub.add_parser("record", help="record a real game playing itself, with its own timed events (games/record.py)")
    s.add_argument("--game", default="chess", choices=["chess"]); s.add_argument("--seconds", type=float, default=60.0)
    s.add_argument("--seed", type=int, default=1); s.add_argument("--out", default="models/.cache/game/chess")
    s.add_argument("--name", default=None, help="file name stem (default <game>_<seed>)")
    s.add_argument("--depth", type=int, default=4, help="engine search depth (fixed depth: the same seed plays the same moves)")
    s.add_argument("--pace", default="1.0,2.5", help="seconds an engine move is held, min,max (seeded draw per move)")
    s.add_argument("--depths", default=None, help="e.g. 2,3,4,5: each engine's depth is drawn per game from these (seeded), so a long recording is many different games")
    s = sub.add_parser("import-videollm", help="VideoLLM-online checkpoint -> package: LoRA merged, SigLIP vision, parity-checked")
    s.add_argument("checkpoint", help="the adapter folder (adapter_config.json) or a folder holding the LLM, adapter and SigLIP folders")
    s.add_argument("--out", required=True); s.add_argument("--llm", default=None, help="the base Llama folder (default: found beside the adapter)")
    s.add_argument("--vision", default=None, help="the SigLIP folder (default: found beside the adapter)")
    s.add_argument("--name", default="videollm-online"); s.add_argument("--dtype", default="fp32", help="only fp32 for now")
    s.add_argument("--window-frames", type=int, default=None, help="frames the runtime keeps (default: what max_position_embeddings allows, at most 600)")
    s.add_argument("--no-parity", action="store_true")
    s.add_argument("--dense", action="store_true", help="leave a MoD checkpoint's routers out: every layer dense")
    s = sub.add_parser("videollm-tiny", help="a tiny random VideoLLM-online checkpoint (three folders) for tests")
    s.add_argument("--out", required=True); s.add_argument("--seed", type=int, default=0)
    s.add_argument("--routers", action="store_true", help="also MoD routers (routers.safetensors + mod_config.json)")
    s.add_argument("--preset", default="tiny", choices=["tiny", "llama3-8b"], help="llama3-8b: the real shapes, random values")
    s.add_argument("--layers", type=int, default=None, help="decoder layers instead of the preset's (same width)")
    s = sub.add_parser("videollm-reference", help="logits of an independent reference (unmerged LoRA) over a runtime trace")
    s.add_argument("--checkpoint", required=True); s.add_argument("--trace", required=True); s.add_argument("--out", required=True)
    s.add_argument("--llm", default=None); s.add_argument("--vision", default=None)
    s.add_argument("--device", default="cpu", help="cpu or cuda")
    for cmd in ("train-routers", "router-table"):
        if cmd == "train-routers":
            s = sub.add_parser(cmd, help="MoD routers for a dense VideoLLM-online checkpoint, distilled from it on your own unlabelled recordings (videollm/routers.py)")
            s.add_argument("checkpoint", help="as import-videollm takes it: the adapter folder, or the folder holding the three")
            s.add_argument("--video", action="append", required=True, help="a recording to learn from (repeat for more)")
            s.add_argument("--out", required=True, help="new folder: a copy of the adapter folder + routers.safetensors + mod_config.json")
        else:
            s = sub.add_parser(cmd, help="routers trained on one recording vs random routers and first-k / last-k heuristics, against the dense model on another (Markdown)")
            s.add_argument("checkpoint", help="as import-videollm takes it")
            s.add_argument("--train-video", required=True)
            s.add_argument("--heldout-video", action="append", required=True, help="a different recording (repeat for more)")
            s.add_argument("--no-heuristic", action="store_true", help="leave out the first-k and last-k heuristic rows")
            s.add_argument("--json", default=None, help="also write the numbers here")
        s.add_argument("--keep-ratio", type=float, default=0.2); s.add_argument("--from-layer", type=int, default=2)
        s.add_argument("--steps", type=int, default=None, help="training steps (default 300 unless --minutes)")
        s.add_argument("--minutes", type=float, default=None, help="stop training after this long (with --steps: whichever comes first)")
        s.add_argument("--seed", type=int, default=0); s.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 0.5 / hidden)")
        s.add_argument("--clip-frames", type=int, default=16); s.add_argument("--batch", type=int, default=4)
        s.add_argument("--hidden-mse", type=float, default=0.0, help="weight of an MSE on the final hidden states of all tokens (0: KL only)")
        s.add_argument("--no-straight-through", action="store_true",
                       help="routers learn only through the weights of the tokens they keep (default: left-out tokens get a straight-through gradient too)")
        s.add_argument("--llm", default=None); s.add_argument("--vision", default=None)
        s.add_argument("--device", default="cpu", help="cpu or cuda"); s.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    try:
        return _run(a)
    except Exception as e:  # one clear line for the known failure kinds, a traceback otherwise
        from .model.checkpoint import CheckpointError
        from .model.model import ConfigError
        from .export.package import ExportError
        from .training.from_package import ImportError_
        from .videollm.errors import LayoutError
        known = (CheckpointError, ConfigError, ExportError, ImportError_, LayoutError, FileNotFoundError, NotADirectoryError)
        if isinstance(e, known):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise


def _run(a) -> int:
    import torch
    torch.set_num_threads(getattr(a, "threads", 2))
    if a.cmd == "init":
        from .model.checkpoint import save_checkpoint
        from .model.model import KibitzModel, ModelConfig
        torch.manual_seed(a.seed)
        save_checkpoint(a.out, KibitzModel(ModelConfig()), {"training": {"steps": 0, "note": "untrained"}})
    elif a.cmd == "export":
        from .export.package import export_checkpoint
        m = export_checkpoint(a.checkpoint, a.out, a.name, check_parity=not a.no_parity, threshold=a.threshold,
                              temporal_default=a.temporal_default)
        if a.world_from:
            from .export.carry import carry_world
            print(json.dumps({"world_from": a.world_from, "vision_max_abs_diff": carry_world(a.world_from, a.out)}))
        from .questions.phrasing_data import KINDS
        if not a.no_questions and m.get("game", "demo") in KINDS:
            from .questions.classifier import write_package
            print(json.dumps({"questions": write_package(a.out, log=lambda _: None)["crossValidation"]}))
        print(json.dumps(m.get("parity", {"parity": "not checked"})))
    elif a.cmd == "data":
        from .data.dataset import build_dataset
        w, h = (int(x) for x in a.size.split("x"))
        build_dataset(a.out, list(range(a.first_seed, a.first_seed + a.streams)), a.seconds, a.jobs, w, h, a.src_fps)
    elif a.cmd == "samples":
        from .data.render import write_samples
        write_samples(a.out, seeds=[int(x) for x in a.seeds.split(",")] if a.seeds else None)
    elif a.cmd == "train":
        from .data.temporal import TemporalConfig
        from .training.train import train
        train(a.data, a.out, a.minutes, a.keep_ratio, a.seed, a.resume, threads=a.threads,
              lr_max=a.lr, warmup=a.warmup, decision_weight=a.decision_weight,
              vision=a.vision, freeze_vision=a.freeze_vision, prefer_question=a.prefer_question,
              steps=a.steps, variant_name=a.variant, hit_clips=a.hit_clips, time_digits=a.time_digits, fixed_vision=a.fixed_vision, clock_text=a.clock_text,
              temporal=TemporalConfig() if a.temporal else None, freeze_clips=a.freeze_clips, temporal_share=a.temporal_share, game=a.game,
              line_stamp=a.line_stamp, device=a.device, teacher=a.teacher, distill=a.distill)
    elif a.cmd == "train-alike":
        from .training.train_alike import train_alike
        train_alike(a.data, a.out_dir, a.resume, [v for v in a.variants.split(",") if v], steps=a.steps, minutes=a.minutes,
                    batch=a.batch, workers=a.workers, seed=a.seed, lr_max=a.lr, warmup=a.warmup,
                    decision_weight=a.decision_weight, device=a.device, save_every_s=a.save_every, threads=a.threads,
                    teacher=a.teacher, distill=a.distill)
    elif a.cmd == "vision":
        from .training.vision_pretrain import pretrain_vision
        pretrain_vision(a.data, a.out, a.minutes, a.eval, batch=a.batch, lr_max=a.lr, seed=a.seed, threads=a.threads)
    elif a.cmd == "evaluate":
        from .evaluation.evaluate import evaluate
        print(json.dumps(evaluate(a.checkpoint, a.data, a.out, a.threshold, a.max_streams, threads=a.threads, clock_offset=a.clock_offset, temporal=a.temporal), indent=2))
    elif a.cmd == "baseline":
        from .evaluation.baseline import prior_baseline
        from .data.render import EVAL_FIRST_SEED
        print(json.dumps(prior_baseline(range(EVAL_FIRST_SEED, EVAL_FIRST_SEED + 6), range(1000, 1240)), indent=1))
    elif a.cmd == "game-data":
        from .games.chess import build_data
        from .games.catalogue import get as get_game
        made = build_data(a.recordings, a.out, a.chunk_s, a.first_id, None if a.full_frame else get_game(a.game).view)
        print(json.dumps({"streams": len(made), "spoken_events": sum(m["spoken"] for m in made), "out": a.out}))
    elif a.cmd == "game-samples":
        from .games.chess import write_samples
        from .games.identity import load_dirs
        train = load_dirs(a.train) if a.train else None
        try:
            made = write_samples(a.recordings, a.out, seconds=a.seconds, only=a.only.split(",") if a.only else None, train=train)
        except ValueError as e:
            print(e, file=sys.stderr)
            sys.exit(2)
        for mp4 in made:
            print(mp4)
    elif a.cmd == "record":
        from .games.record import record
        meta = record(a.out, a.name or f"{a.game}_{a.seed}", a.seconds, a.seed, a.depth, tuple(float(x) for x in a.pace.split(",")),
                      [int(d) for d in a.depths.split(",")] if a.depths else None)
        print(json.dumps({k: meta[k] for k in ("duration_s", "games", "engine_moves", "kinds")}
                         | {"alignment": {k: v for k, v in meta["alignment"].items() if k != "lags_s"}}, indent=1))
    elif a.cmd == "outworld":
        from .data.outworld import build_outworld
        from .games.catalogue import get as get_game
        build_outworld(a.out, a.split, a.clips, a.seconds, get_game(a.view_of).view if a.view_of else None)
    elif a.cmd == "augment":
        import random as _random
        from .data.augment import augment_recording, draw_spec
        from .games.catalogue import get as get_game
        from .games.chess import recording_stems
        rng = _random.Random(a.seed)
        made = [augment_recording(stem, a.out, draw_spec(rng, a.max_scale), get_game(a.game).view, f"{os.path.basename(stem)}_aug{i}")
                for stem in recording_stems(a.recordings) for i in range(a.variants)]
        print(json.dumps([{"name": m["augmented_from"], "view": m["view"], "augment": m["augment"]} for m in made], indent=1))
    elif a.cmd == "game-identity":
        from .games.identity import check, load_dir, load_dirs, table
        rows = check(load_dirs(a.train), load_dir(a.heldout), a.max_shared)
        print(table(rows, a.max_shared))
        if not all(r["ok"] for r in rows):
            print(f"held-out games share more than {a.max_shared} plies with training games: they are not held out", file=sys.stderr)
            sys.exit(2)
    elif a.cmd == "replay-games":
        from .games.record import replay_games
        os.makedirs(a.out, exist_ok=True)
        pgn = replay_games(a.seed, a.games, a.depth, [int(d) for d in a.depths.split(",")] if a.depths else None)
        out = os.path.join(a.out, f"replay_{a.seed}.pgn")
        with open(out, "w") as f:
            f.write(pgn)
        print(json.dumps({"seed": a.seed, "games": pgn.count("[Result "), "out": out}))
    elif a.cmd == "view-reference":
        from .export.view_reference import write_reference
        print(json.dumps(write_reference(a.package, a.video, a.source)))
    elif a.cmd == "view-frames":
        from .games.catalogue import get as get_game
        from .data.views import view_dir
        print(json.dumps(view_dir(a.src, a.out, get_game(a.game).view)))
    elif a.cmd == "import":
        from .model.checkpoint import save_checkpoint
        from .training.from_package import checked_model, streaming_meta
        m, diffs = checked_model(a.package)
        # the package's own streaming window and frame rate, so the evaluator runs it as the runtime does
        save_checkpoint(a.out, m, {**streaming_meta(a.package), "training": {"imported_from": a.package, "fixture_max_abs_diff": diffs}})
        print(json.dumps(diffs))
    elif a.cmd == "regraph":
        from .training.from_package import regraph_package
        print(json.dumps(regraph_package(a.package)))
    elif a.cmd == "world":
        from .training.inworld import export_world, train_world_head
        head, meta = train_world_head(a.package, a.in_train, a.out_train, a.in_val, a.out_val, a.minutes, a.seed, a.min_in_recall, hud_rows=a.hud_rows)
        if a.save:
            torch.save({"format": "kibitz-world/1", "head": head.state_dict(), "meta": meta}, a.save)
        export_world(head, a.package, meta)
        print(json.dumps(meta, indent=1))
    elif a.cmd == "recall":
        from .export.package import set_recall
        print(json.dumps(set_recall(a.package), indent=1))
    elif a.cmd == "questions":
        from .questions.classifier import ClassifierConfig, write_package
        print(json.dumps(write_package(a.package, ClassifierConfig(seed=a.seed)), indent=1))
    elif a.cmd == "questions-check":
        from .evaluation.question_check import check, print_report
        report = check(a.package, [p for p in a.sets.split(",") if p])
        print(json.dumps(report, indent=1)) if a.json else print_report(a.package, report)
    elif a.cmd == "slim":
        from .model.checkpoint import slim_checkpoint
        print(json.dumps({"out": a.out, "max_abs_change": slim_checkpoint(a.checkpoint, a.out)}))
    elif a.cmd == "copy-probe":
        from .evaluation.copy_probe import copy_probe
        print(json.dumps(copy_probe(a.checkpoint, a.data, a.clips, a.seed, a.threads), indent=2))
    elif a.cmd == "still":
        from .evaluation.still_probe import still_probe
        print(json.dumps(still_probe(a.checkpoint, a.data, a.out, a.max_streams, a.threads, a.temporal, a.still), indent=2))
    elif a.cmd == "import-videollm":
        import time
        from .videollm.importer import import_videollm
        t0 = time.time()
        m = import_videollm(a.checkpoint, a.out, llm=a.llm, vision=a.vision, name=a.name, dtype=a.dtype,
                            window=a.window_frames, check_parity=not a.no_parity, dense=a.dense)
        print(json.dumps({"out": a.out, "seconds": round(time.time() - t0, 1), "decoder": m["decoder"],
                          "parity": m.get("parity", "not checked")}))
    elif a.cmd == "videollm-tiny":
        from .videollm.tiny import PRESETS, write_tiny
        print(json.dumps(write_tiny(a.out, a.seed, a.routers, PRESETS[a.preset], a.layers)))
    elif a.cmd == "videollm-reference":
        from .videollm.reference import run_reference
        print(json.dumps({"out": a.out, "steps": run_reference(a.checkpoint, a.trace, a.out, a.llm, a.vision, a.device)}))
    elif a.cmd == "train-routers":
        from .videollm.routers import train_routers
        mod = train_routers(a.checkpoint, a.video, a.out, keep_ratio=a.keep_ratio, from_layer=a.from_layer, steps=a.steps,
                            minutes=a.minutes, seed=a.seed, clip_frames=a.clip_frames, batch=a.batch, lr=a.lr,
                            hidden_weight=a.hidden_mse, llm=a.llm, vision=a.vision, device=a.device,
                            straight_through=not a.no_straight_through, log=lambda m: print(m, file=sys.stderr))
        print(json.dumps({"out": a.out, **mod}))
    elif a.cmd == "router-table":
        from .videollm.router_table import router_table
        md, numbers = router_table(a.checkpoint, a.train_video, a.heldout_video, keep_ratio=a.keep_ratio, from_layer=a.from_layer,
                                   steps=a.steps, minutes=a.minutes, seed=a.seed, clip_frames=a.clip_frames, batch=a.batch, lr=a.lr,
                                   hidden_weight=a.hidden_mse, llm=a.llm, vision=a.vision, device=a.device, heuristic=not a.no_heuristic,
                                   straight_through=not a.no_straight_through, log=lambda m: print(m, file=sys.stderr))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(numbers, f, indent=1)
        print(md)
    elif a.cmd == "cost" and a.context and not a.package:
        from .model.model import ConfigError
        raise ConfigError("cost --context needs --package (the shape whose layers attend over those slots)")
    elif a.cmd == "cost" and a.package:
        from .training.from_package import package_cost
        print(json.dumps(package_cost(a.package, [int(c) for c in a.context.split(",")] if a.context else None)))
    elif a.cmd == "cost":
        from .model.model import KibitzModel, ModelConfig
        rows = {}
        variants = [("mod", 0.2, None), ("dense", 1.0, None)] + ([("mod+temporal", 0.2, a.tokens)] if a.tokens else [])
        for name, r, n in variants:
            m = KibitzModel(ModelConfig(keep_ratio=r))
            L, k = m.cfg.n_layers, m.cfg.kept_per_frame
            V = n or m.cfg.tokens_per_frame
            ctx = [16 * (min(k, V) if m.cfg.is_routed(l) else V) + 40 for l in range(L)]  # a 16-frame window + text
            rows[name] = {"no_context": m.decoder_cost_per_frame(tokens=n), "window_16_frames": m.decoder_cost_per_frame(ctx, tokens=n)}
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
