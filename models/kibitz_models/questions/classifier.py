"""The question classifier a closed package ships (questions.json): a viewer's question -> one of
the package's question kinds, or none. Hashed n-gram features (questions/features.py), one hidden
layer, softmax over the kinds and "none"; the most likely kind is taken when its probability
reaches the threshold, chosen for the best balanced accuracy (in-scope questions given their kind,
out-of-scope ones refused) under cross-validation over template folds: each fold validated by a
classifier that never saw its templates (phrasings.py). Then one classifier trains on every
template. About a minute on two CPU cores.

The runtime evaluates the same file in TypeScript (src/questions/classifier.ts); `QuestionClassifier`
here is the toolkit's numpy copy (tests, `cli questions-check`).

questions.json: {"format": "kibitz-questions/1", "features": {"buckets", "chars"}, "classes": [kinds..., "none"],
"hidden": H, "threshold": t, "weights": {"w1": [buckets, H], "b1": [H], "w2": [H, classes], "b2": [classes]}
(float32 little-endian, base64, row-major), "training": {...}}"""
from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import asdict, dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .features import featurise
from .phrasing_data import KINDS
from .phrasings import FOLDS, NONE, generate, kinds_manifest

FORMAT = "kibitz-questions/1"
FILE = "questions.json"


@dataclass
class ClassifierConfig:
    buckets: int = 4096
    chars: Tuple[int, ...] = (3, 4)
    hidden: int = 32
    epochs: int = 8
    batch: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-5
    per_kind: int = 2500          # training questions per kind
    n_none: int = 24000           # training out-of-scope questions
    val_per_kind: int = 200        # validation questions per kind and fold
    val_none: int = 2000
    feature_drop: float = 0.35     # share of a training question's features left out each time it is seen
    seed: int = 0


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def _unb64(s: str, shape: Sequence[int]) -> np.ndarray:
    a = np.frombuffer(base64.b64decode(s), dtype="<f4")
    if a.size != int(np.prod(shape)):
        raise ValueError(f"questions.json: a weight has {a.size} values, expected {list(shape)}")
    return a.reshape(shape)


class QuestionClassifier:
    """questions.json evaluated with numpy, as the runtime does."""

    def __init__(self, spec: dict):
        if spec.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        self.spec = spec
        self.features = {"buckets": spec["features"]["buckets"], "chars": list(spec["features"]["chars"])}
        self.classes: List[str] = list(spec["classes"])
        self.threshold = float(spec["threshold"])
        D, H, C = self.features["buckets"], spec["hidden"], len(self.classes)
        w = spec["weights"]
        self.w1, self.b1 = _unb64(w["w1"], (D, H)), _unb64(w["b1"], (H,))
        self.w2, self.b2 = _unb64(w["w2"], (H, C)), _unb64(w["b2"], (C,))

    @classmethod
    def load(cls, path: str) -> "QuestionClassifier":
        with open(path) as f:
            return cls(json.load(f))

    def probs(self, text: str) -> Optional[np.ndarray]:
        """Softmax over classes; None when the question has no features (no letter or digit)."""
        idx, val = featurise(text, self.features)
        if not idx:
            return None
        h = np.maximum(0.0, self.b1 + np.asarray(val, dtype=np.float32) @ self.w1[idx])   # (H,)
        z = self.b2 + h @ self.w2                                                          # (C,)
        e = np.exp(z - z.max())
        return e / e.sum()

    def best_kind(self, text: str) -> Tuple[str, float]:
        """The most likely kind (never "none") and its probability; ("none", 0) for a question with no features."""
        p = self.probs(text)
        if p is None:
            return NONE, 0.0
        best = max((i for i, c in enumerate(self.classes) if c != NONE), key=lambda i: p[i])
        return self.classes[best], float(p[best])

    def classify(self, text: str) -> Tuple[str, float]:
        """(the most likely kind, or "none" when its probability is under the threshold; that probability)."""
        kind, p = self.best_kind(text)
        return (kind if p >= self.threshold and kind != NONE else NONE), p


def _batches(rows: List[Tuple[List[int], List[float]]], labels: np.ndarray, order: np.ndarray, size: int,
             drop: float = 0.0, rng: Optional[np.random.Generator] = None):
    """EmbeddingBag batches; `drop`: each feature left out with this probability (the rest rescaled to unit length),
    so no single word or n-gram carries a kind (a viewer's wording lacks some of them)."""
    import torch
    for s in range(0, len(order), size):
        pick = order[s:s + size]
        idx, val, offs = [], [], []
        for i in pick:
            offs.append(len(idx))
            r_idx, r_val = rows[i]
            if drop > 0:
                keep = rng.random(len(r_idx)) >= drop
                if keep.any():
                    v = np.asarray(r_val)[keep]
                    r_idx, r_val = list(np.asarray(r_idx)[keep]), list(v / np.sqrt((v * v).sum()))
            idx += r_idx
            val += r_val
        yield (torch.tensor(idx, dtype=torch.long), torch.tensor(val, dtype=torch.float32),
               torch.tensor(offs, dtype=torch.long), torch.tensor(labels[pick], dtype=torch.long))


def _featurised(data: List[Tuple[str, str]], classes: List[str], spec: dict):
    rows, labels = [], []
    for text, kind in data:
        f = featurise(text, spec)
        if f[0]:   # an emoji-only question teaches nothing: it has no features (the runtime refuses it by rule)
            rows.append(f)
            labels.append(classes.index(kind))
    return rows, np.asarray(labels)


def choose_threshold(pred: dict) -> float:
    """The threshold (0.05-0.95 by 0.01) with the best balanced accuracy on validation predictions:
    in-scope questions given their kind plus out-of-scope questions refused, each as a share of
    its own count (ties: the higher threshold)."""
    best, best_score = 0.5, -1.0
    for t in np.arange(0.05, 0.951, 0.01):
        r = summarise(pred, float(t))
        if r["right"] + r["outOfScopeRefused"] >= best_score:
            best, best_score = float(round(t, 2)), r["right"] + r["outOfScopeRefused"]
    return best


def predictions(clf: QuestionClassifier, data: List[Tuple[str, str]]) -> dict:
    """Each labelled question's best kind and its probability, for any threshold (summarise)."""
    best = [clf.best_kind(q) for q, _ in data]
    return {"want": np.asarray([k for _, k in data]), "kind": np.asarray([k for k, _ in best]),
            "p": np.asarray([p for _, p in best], dtype=np.float64)}


def concat(preds: List[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in preds]) for k in ("want", "kind", "p")}


def summarise(pred: dict, threshold: float) -> dict:
    """In-scope questions given their kind / refused / given another kind; out-of-scope refused."""
    want = pred["want"]
    kind = np.where((pred["p"] >= threshold) & (pred["kind"] != NONE), pred["kind"], NONE)
    inside = want != NONE
    share = lambda mask, of: round(float(np.mean(mask[of])), 4) if of.any() else 0.0
    return {"inScope": int(inside.sum()), "outOfScope": int((~inside).sum()), "right": share(kind == want, inside),
            "refused": share(kind == NONE, inside), "wrongKind": share((kind != NONE) & (kind != want), inside),
            "outOfScopeRefused": share(kind == NONE, ~inside)}


def fit(game: str, data: List[Tuple[str, str]], cfg: ClassifierConfig, log=print) -> dict:
    """A classifier trained on `data` (questions.json's content, threshold 0.5 until chosen)."""
    import torch
    from torch import nn
    torch.manual_seed(cfg.seed)
    classes = [k["kind"] for k in kinds_manifest(game)] + [NONE]
    spec = {"buckets": cfg.buckets, "chars": list(cfg.chars)}
    rows, y = _featurised(data, classes, spec)
    D, H, C = cfg.buckets, cfg.hidden, len(classes)
    emb = nn.EmbeddingBag(D, H, mode="sum")
    nn.init.normal_(emb.weight, std=0.1)
    b1 = nn.Parameter(torch.zeros(H))
    out = nn.Linear(H, C)
    opt = torch.optim.AdamW([emb.weight, b1, *out.parameters()], lr=cfg.lr, weight_decay=cfg.weight_decay)
    # Kinds and "none" weigh the same in the loss, whatever their counts.
    counts = np.bincount(y, minlength=C).astype(np.float64)
    loss_fn = nn.CrossEntropyLoss(weight=torch.tensor(len(y) / (C * np.maximum(counts, 1)), dtype=torch.float32))
    rng = np.random.default_rng(cfg.seed)
    for epoch in range(cfg.epochs):
        total = 0.0
        for idx, val, offs, target in _batches(rows, y, rng.permutation(len(y)), cfg.batch, cfg.feature_drop, rng):
            h = torch.relu(emb(idx, offs, per_sample_weights=val) + b1)   # (B, H)
            loss = loss_fn(out(h), target)                                 # out(h): (B, C)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(target)
        log(f"  epoch {epoch + 1}/{cfg.epochs}: loss {total / len(y):.4f}")
    return {
        "format": FORMAT, "features": spec, "classes": classes, "hidden": H, "threshold": 0.5,
        "weights": {"w1": _b64(emb.weight.detach().numpy()), "b1": _b64(b1.detach().numpy()),
                    "w2": _b64(out.weight.detach().numpy().T), "b2": _b64(out.bias.detach().numpy())},
    }


def train(game: str, cfg: ClassifierConfig = ClassifierConfig(), log=print) -> dict:
    """questions.json for `game`: the threshold from cross-validation over template folds (each fold
    validated by a classifier trained on the others), then one classifier trained on every template."""
    t0 = time.time()
    folds = []
    for fold in range(FOLDS):
        log(f"questions {game}: fold {fold + 1}/{FOLDS} (its templates held out)")
        spec = fit(game, generate(game, cfg.per_kind, cfg.n_none, cfg.seed, fold, held=False), cfg, log)
        folds.append(predictions(QuestionClassifier(spec), generate(game, cfg.val_per_kind, cfg.val_none, cfg.seed + 1, fold, held=True)))
    pooled = concat(folds)
    threshold = choose_threshold(pooled)
    log(f"questions {game}: all templates")
    data = generate(game, cfg.per_kind, cfg.n_none, cfg.seed)
    spec = fit(game, data, cfg, log)
    spec["threshold"] = threshold
    cv = summarise(pooled, threshold)
    spec["training"] = {"game": game, "config": {**asdict(cfg), "chars": list(cfg.chars)}, "trainQuestions": len(data),
                        "crossValidation": cv, "seconds": round(time.time() - t0, 1)}
    log(f"questions {game}: threshold {threshold}; cross-validated on held-out templates: {json.dumps(cv)}")
    return spec


def manifest_block(game: str) -> dict:
    return {"file": FILE, "kinds": kinds_manifest(game),
            "describe": "a viewer's question goes through `file` (hashed word and character n-grams, one hidden layer; "
                        "src/questions/classifier.ts) to one of `kinds`, or to none; a kind's canonical `question` is what recall "
                        "and the decoder get; none gets one honest line naming the kinds' labels and the first example"}


def write_package(pkg_dir: str, cfg: ClassifierConfig = ClassifierConfig(), log=print) -> dict:
    """Trains the package's game's classifier, writes questions.json and the manifest's questions block."""
    path = os.path.join(pkg_dir, "manifest.json")
    with open(path) as f:
        manifest = json.load(f)
    game = manifest.get("game", "demo")
    if game not in KINDS:
        raise ValueError(f"game {game!r} has no question kinds to learn (phrasing_data.KINDS): write its kinds and templates first")
    spec = train(game, cfg, log)
    with open(os.path.join(pkg_dir, FILE), "w") as f:
        json.dump(spec, f, separators=(",", ":"))
        f.write("\n")
    manifest["questions"] = manifest_block(game)
    with open(path, "w") as f:
        json.dump(manifest, f, indent=2)
    return spec["training"]
