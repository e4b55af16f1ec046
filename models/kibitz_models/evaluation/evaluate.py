"""Held-out evaluation with a streaming runner that mirrors the TypeScript runtime's contract:
<bos> sink, one frame step per sampled frame with the per-layer cache, P(silent) decision, greedy
text, a window of the last `cache.windowFrames` frames with positions renumbered after eviction.

    PYTHONPATH=models /usr/bin/python3 -m kibitz_models.cli evaluate --checkpoint CKPT --data models/.cache/eval

Metrics: commentary precision/recall/F1 (an event is caught when a line phrase equal to its
description comes within 2 s after it; one phrase per event), spurious phrases per minute;
QA exact-answer accuracy by type; summary coverage (share of the window's events named).
A checkpoint trained with the temporal token drop (temporal.py) is evaluated with it, as the
runtime runs it; the result then counts the vision tokens fed and skipped.
"""
from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from typing import Dict, List, Optional

import numpy as np
import torch

from ..data.dataset import FPS, load_streams, stamp_text
from ..data.temporal import TokenDrop, rule_for
from ..data.tokenizer import ANSWER, BOS, COMMENTARY, EOS, QUESTION, SILENT, SUMMARY
from ..games.catalogue import get as get_game, tokenizer_for, view_of_data
from ..model.checkpoint import load_checkpoint, window_frames
from ..model.model import KibitzModel
from .recall import Recall, line_phrases

CATCH_S = 2.0


class Streamer:
    """Per-stream state: a list of chunks (bos / frame / text), each with per-layer K/V and the
    chunk-relative token index of every entry; positions are assigned contiguously on use."""

    def __init__(self, model: KibitzModel, window_frames: int = 24, max_new: int = 64):
        self.m, self.window, self.max_new = model, window_frames, max_new
        self.chunks: List[dict] = []
        self._text([BOS])

    def copy(self) -> "Streamer":
        c = Streamer.__new__(Streamer)
        c.m, c.window, c.max_new, c.chunks, c.seconds = self.m, self.window, self.max_new, list(self.chunks), self.seconds
        return c

    def _past(self):
        L = self.m.cfg.n_layers
        ks, vs, ps = [[] for _ in range(L)], [[] for _ in range(L)], [[] for _ in range(L)]
        base = 0
        for ch in self.chunks:
            for l in range(L):
                ks[l].append(ch["k"][l])
                vs[l].append(ch["v"][l])
                ps[l].append(ch["rel"][l] + base)
            base += ch["n"]
        past = []
        for l in range(L):
            p = torch.cat(ps[l]).unsqueeze(0)
            past.append((torch.cat(ks[l], 2), torch.cat(vs[l], 2), p, torch.ones_like(p, dtype=torch.bool)))
        return past, base

    seconds = None   # the clock of the latest frame (text fed after it carries it: cfg.clock_text)

    def _text(self, ids: List[int]) -> torch.Tensor:
        past, base = self._past() if self.chunks else (self.m.empty_past(1), 0)
        T = len(ids)
        pos = torch.arange(base, base + T).unsqueeze(0)
        emb = self.m.embed(torch.tensor([ids]))
        if self.m.cfg.clock_text and self.seconds is not None:
            emb = emb + self.m.clock(torch.tensor(self.seconds))
        logits, out = self.m.text_step(emb, pos, past)
        rel = torch.arange(T)
        self.chunks.append({"kind": "text", "n": T, "k": [o[0] for o in out], "v": [o[1] for o in out],
                            "rel": [rel] * len(out)})
        return logits[0, -1]

    def frame(self, vis: torch.Tensor) -> float:
        """vis (n, d): the frame's fed tokens (all V without the temporal drop) -> P(silent);
        appends the frame, evicts beyond the window."""
        past, base = self._past()
        V = vis.shape[0]
        logits, out = self.m.frame_step(vis.unsqueeze(0), torch.arange(base, base + V).unsqueeze(0), past)
        self.chunks.append({"kind": "frame", "n": V, "k": [o[0] for o in out], "v": [o[1] for o in out],
                            "rel": [o[2][0] for o in out]})
        frames = [i for i, c in enumerate(self.chunks) if c["kind"] == "frame"]
        if len(frames) > self.window:
            cut = frames[len(frames) - self.window]   # keep bos (chunk 0) + chunks from this frame on
            self.chunks = self.chunks[:1] + self.chunks[cut:]
        return float(torch.softmax(logits[0], -1)[SILENT])

    def generate(self, prompt: List[int], after: List[int] = ()) -> List[int]:
        """Greedy to <eos>; feeds <eos>, then `after` (a line stamp) with it."""
        logits = self._text(prompt)
        out: List[int] = []
        for _ in range(self.max_new):
            nxt = int(torch.argmax(logits))
            if nxt == EOS:
                break
            out.append(nxt)
            logits = self._text([nxt])
        self._text([EOS] + list(after))
        return out

    def frames_in_cache(self) -> int:
        return sum(1 for c in self.chunks if c["kind"] == "frame")


def score_commentary(events, lines, seconds: float) -> dict:
    """events: [(t, text)]; lines: [(t, text)] -> counts for precision/recall."""
    phrases = [(t, p) for t, line in lines for p in line_phrases(line)]
    used = [False] * len(phrases)
    caught = 0
    for et, etext in events:
        for j, (pt, ptext) in enumerate(phrases):
            if not used[j] and ptext == etext and et - 1e-6 <= pt <= et + CATCH_S + 1e-6:
                used[j] = True
                caught += 1
                break
    return {"events": len(events), "caught": caught, "phrases": len(phrases), "correct": sum(used),
            "spurious": len(phrases) - sum(used), "minutes": seconds / 60.0}


def when_miss(got: str, want: str, latest_stamp: Optional[str]) -> Optional[str]:
    """How a "when" answer of a line-stamp model went wrong: None (right), "latest_stamp" (it copied
    the stamp of the last line said, not the one after the line the question is about) or "other"."""
    if got == want:
        return None
    return "latest_stamp" if latest_stamp is not None and got == latest_stamp else "other"


def evaluate(ckpt: str, data_dir: str, out: Optional[str] = None, threshold: Optional[float] = None,
             max_streams: Optional[int] = None, threads: int = 2, clock_offset: int = 0, temporal: str = "auto") -> dict:
    """`clock_offset`: the stream clock starts this many seconds ahead of the world's HUD clock
    (0 = they agree, as in the sample broadcasts); a model that tells times from its clock, not the
    HUD, scores the same on when_hit either way. `temporal`: auto = the temporal token drop when
    the checkpoint was trained with it; on = always (default rule when it was not); off = never."""
    torch.set_num_threads(threads)
    model, meta = load_checkpoint(ckpt)
    thr = threshold if threshold is not None else meta.get("threshold", 0.5)
    window = window_frames(meta)
    rule = rule_for(meta, temporal)
    cfg = model.cfg
    fed = [0, 0]   # vision tokens fed, frames (temporal drop)
    game = get_game(cfg.game)
    QUESTIONS, answer = game.questions, game.answer
    tok = tokenizer_for(cfg.game)
    data_view = view_of_data(data_dir)
    if data_view != cfg.view:
        raise ValueError(f"{data_dir} holds frames of view {data_view or 'the whole frame'}, but the model looks at "
                         f"{cfg.view or 'the whole frame'}: make the data with the model's view (cli game-data)")
    streams = load_streams(data_dir)[:max_streams]
    com = Counter()
    qa = defaultdict(lambda: [0, 0])
    cov = [0, 0]
    examples = []
    when_misses = Counter()   # line-stamp models: how wrong "when" answers went wrong (when_miss)
    recall = Recall(game.recall) if game.recall else None   # as the runtime answers memory questions (recall.py)
    qa_recall = defaultdict(lambda: [0, 0, 0])   # correct, asked, answers recall changed
    with torch.no_grad():
        for seed, frames in streams:
            seconds = frames.shape[0] / FPS
            world = game.load(data_dir, seed, seconds)
            st = Streamer(model, window)
            drop = rule and TokenDrop(rule, cfg.frame_height, cfg.frame_width, cfg.grid_h, cfg.grid_w)
            said_ms = []   # what the stream said as recall reads it: (stream ms, text)
            latest_stamp = None   # the stamp text fed after the last line said (line-stamp models)

            def ask(kind: str, want: str, t: float) -> str:
                """Asks on a copy of the cache (the stream goes on unchanged) and scores the answer: the
                model's own, and the one the runtime gives (recalled from what was said, if a rule names it)."""
                got = tok.decode(st.copy().generate([QUESTION] + tok.encode(QUESTIONS[kind][0]) + [ANSWER]))
                qa[kind][0] += int(got == want)
                qa[kind][1] += 1
                rule = recall and recall.for_kind(kind)
                recalled = recall.answer(rule, said_ms, t * 1000) if rule else None
                qa_recall[kind][0] += int((got if recalled is None else recalled) == want)
                qa_recall[kind][1] += 1
                qa_recall[kind][2] += int(recalled is not None and recalled != got)
                if kind == "when_hit" and cfg.line_stamp:
                    miss = when_miss(got, want, latest_stamp)
                    if miss:
                        when_misses[miss] += 1
                return got

            kinds = list(QUESTIONS)
            qi = 0
            for i in range(frames.shape[0]):
                t = i / FPS
                vis = model.vision(torch.from_numpy(np.ascontiguousarray(frames[i:i + 1])))[0]
                if model.time_embed is not None:   # the runtime does the same
                    vis = vis + model.clock(torch.tensor(clock_offset + i // FPS))
                st.seconds = clock_offset + i // FPS
                if drop:
                    keep = drop.step(np.asarray(frames[i]))
                    vis = vis[torch.from_numpy(keep)]
                    fed[0] += int(keep.sum())
                    fed[1] += 1
                p_silent = st.frame(vis)
                if p_silent < thr:
                    said_at = stamp_text(st.seconds) if cfg.line_stamp else None
                    text = tok.decode(st.generate([COMMENTARY], after=tok.encode(said_at) if said_at else []))   # as the runtime feeds it
                    said_ms.append((t * 1000, text))
                    latest_stamp = said_at or latest_stamp
                oldest = (i - st.frames_in_cache() + 1) / FPS
                if i >= 8 and i % 6 == 0:        # a question every 3 s, cycling through the types
                    for _ in range(len(kinds)):
                        kind = kinds[qi % len(kinds)]
                        qi += 1
                        want = answer(world, kind, t, oldest, FPS, clock_offset)
                        if want is None:
                            continue
                        got = ask(kind, want, t)
                        if len(examples) < 40:
                            examples.append({"seed": seed, "t": t, "q": QUESTIONS[kind][0], "want": want, "got": got})
                        break
                if i >= 8 and i % 6 == 3 and "when_hit" in QUESTIONS:  # rarely answerable in the cycle above: probe it too
                    want = answer(world, "when_hit", t, oldest, FPS, clock_offset)
                    if want is not None:
                        ask("when_hit", want, t)
                if i >= 20 and i % 20 == 0:       # summary of the cached window
                    got = tok.decode(st.copy().generate([SUMMARY, ANSWER]))
                    phrases = Counter(p.strip() for p in got.split(" then "))   # both games join with " then "
                    for e in world.events_between(oldest, t):
                        cov[1] += 1
                        if phrases[e.text] > 0:
                            phrases[e.text] -= 1
                            cov[0] += 1
            ev = [(e.t, e.text) for e in world.events]
            lines = [(ms / 1000, text) for ms, text in said_ms]
            com.update(score_commentary(ev, lines, seconds))
            examples.append({"seed": seed, "commentary": lines[:12], "events": ev[:12]})
            print(f"eval: seed {seed} done, {len(lines)} lines", flush=True)
    P = com["correct"] / max(1, com["phrases"])
    R = com["caught"] / max(1, com["events"])
    res = {
        "checkpoint": ckpt, "data": data_dir, "streams": len(streams), "threshold": thr, "clock_offset": clock_offset,
        "commentary": {"precision": round(P, 3), "recall": round(R, 3), "f1": round(2 * P * R / max(1e-9, P + R), 3),
                       "spurious_per_min": round(com["spurious"] / max(1e-9, com["minutes"]), 2),
                       "events": com["events"], "phrases": com["phrases"]},
        "qa": {k: {"accuracy": round(c / max(1, n), 3), "n": n} for k, (c, n) in sorted(qa.items())},
        "qa_overall": round(sum(c for c, _ in qa.values()) / max(1, sum(n for _, n in qa.values())), 3),
        # each kind weighs the same, like the sample broadcasts' questions (one per kind)
        "qa_balanced": round(sum(c / max(1, n) for c, n in qa.values()) / max(1, len(qa)), 3),
        # answers as the runtime gives them: memory questions recalled from what was said (recall.py)
        **({"qa_recall": {k: {"accuracy": round(c / max(1, n), 3), "n": n, "changed": d} for k, (c, n, d) in sorted(qa_recall.items())},
            "qa_recall_overall": round(sum(c for c, _, _ in qa_recall.values()) / max(1, sum(n for _, n, _ in qa_recall.values())), 3),
            "qa_recall_balanced": round(sum(c / max(1, n) for c, n, _ in qa_recall.values()) / max(1, len(qa_recall)), 3)} if recall else {}),
        "summary_coverage": round(cov[0] / max(1, cov[1]), 3), "summary_events": cov[1],
        "when_hit_misses": dict(when_misses) if cfg.line_stamp else None,
        "temporal": {**rule.to_dict(), "frames": fed[1], "tokens_fed_per_frame": round(fed[0] / max(1, fed[1]), 2),
                     "skipped_fraction": round(1 - fed[0] / max(1, fed[1] * cfg.tokens_per_frame), 3)} if rule else None,
    }
    if out:
        with open(out, "w") as f:
            json.dump({"result": res, "examples": examples}, f, indent=1)
    return res
