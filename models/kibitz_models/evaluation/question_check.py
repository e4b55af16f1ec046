"""How a package's question classifier does on held-out phrasings (models/tests/question_sets/*.json,
written before any training and never used to choose anything), and how near those phrasings
came to what it trained on: per held-out phrasing, the highest word-set Jaccard similarity to any
training question, and whether it equals one outright (after question_features.normalise).
For the report only: nothing here feeds back into training or the threshold."""
from __future__ import annotations

import json
import os
from collections import defaultdict
from typing import Dict, List, Tuple

from ..questions.classifier import FILE, QuestionClassifier
from ..questions.features import normalise
from ..questions.phrasings import NONE, generate


def heldout(set_path: str, package: str) -> List[Tuple[str, str]]:
    """(question, kind or "none") of one set for one package (by its folder name)."""
    with open(set_path) as f:
        s = json.load(f)
    p = s["packages"][package]
    out = [(q, kind) for kind, qs in p["reworded"].items() for q in qs]
    return out + [(q, NONE) for q in s["common_out_of_scope"] + p["out_of_scope"]]


def nearest(questions: List[str], training: List[str]) -> List[Tuple[float, bool]]:
    """Per question: (max word-set Jaccard to a training question, equal to one after normalising)."""
    norm = {normalise(t) for t in training}
    sets = [frozenset(t.split()) for t in norm if t]
    by_word: Dict[str, List[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        for w in s:
            by_word[w].append(i)
    out = []
    for q in questions:
        n = normalise(q)
        words = frozenset(n.split())
        cands = {i for w in words for i in by_word.get(w, ())}
        best = max((len(words & sets[i]) / len(words | sets[i]) for i in cands), default=0.0)
        out.append((round(best, 3), n in norm))
    return out


def check(pkg_dir: str, set_paths: List[str]) -> dict:
    clf = QuestionClassifier.load(os.path.join(pkg_dir, FILE))
    cfg = clf.spec["training"]["config"]
    training = [q for q, _ in generate(clf.spec["training"]["game"], cfg["per_kind"], cfg["n_none"], cfg["seed"])]
    package = os.path.basename(os.path.normpath(pkg_dir))
    report = {}
    for path in set_paths:
        qs = heldout(path, package)
        near = nearest([q for q, _ in qs], training)
        rows = []
        for (q, want), (jac, copy) in zip(qs, near):
            got, p = clf.classify(q)
            rows.append({"q": q, "want": want, "got": got, "p": round(p, 3), "jaccard": jac, "copy": copy})
        report[os.path.basename(path)] = {"summary": _summary(rows), "notCopies": _summary([r for r in rows if not r["copy"]]),
                                          "byKind": _by_kind(rows), "rows": rows}
    return report


def _summary(rows: List[dict]) -> dict:
    inside = [r for r in rows if r["want"] != NONE]
    outside = [r for r in rows if r["want"] == NONE]
    share = lambda xs, f: round(sum(1 for r in xs if f(r)) / max(1, len(xs)), 3)
    jac = sorted(r["jaccard"] for r in rows)
    return {
        "inScope": len(inside), "right": share(inside, lambda r: r["got"] == r["want"]), "refused": share(inside, lambda r: r["got"] == NONE),
        "wrongKind": share(inside, lambda r: r["got"] not in (NONE, r["want"])),
        "outOfScope": len(outside), "outOfScopeRefused": share(outside, lambda r: r["got"] == NONE),
        "copies": sum(1 for r in rows if r["copy"]), "jaccardMedian": jac[len(jac) // 2] if jac else 0.0,
        "jaccardOver0.8": share(rows, lambda r: r["jaccard"] > 0.8),
    }


def _by_kind(rows: List[dict]) -> Dict[str, dict]:
    kinds = defaultdict(list)
    for r in rows:
        kinds[r["want"]].append(r)
    return {k: {"n": len(v), "right": sum(1 for r in v if r["got"] == r["want"]), "refused": sum(1 for r in v if r["got"] == NONE),
                "copies": sum(1 for r in v if r["copy"]), "meanJaccard": round(sum(r["jaccard"] for r in v) / len(v), 3)}
            for k, v in kinds.items()}


def print_report(pkg_dir: str, report: dict) -> None:
    name = os.path.basename(os.path.normpath(pkg_dir))
    for set_name, r in report.items():
        s, nc = r["summary"], r["notCopies"]
        print(f"{name} on {set_name}: in scope {s['inScope']}: right {s['right']}, refused {s['refused']}, wrong kind {s['wrongKind']}; "
              f"out of scope {s['outOfScope']}: refused {s['outOfScopeRefused']}")
        print(f"  near-copy check: {s['copies']} of {s['inScope'] + s['outOfScope']} equal a training question; word-set Jaccard to the "
              f"nearest training question: median {s['jaccardMedian']}, over 0.8 for {s['jaccardOver0.8']}")
        print(f"  without the copies: in scope {nc['inScope']}: right {nc['right']}, refused {nc['refused']}; "
              f"out of scope {nc['outOfScope']}: refused {nc['outOfScopeRefused']}")
        print(f"  {'kind':15s} {'n':>3s} {'right':>5s} {'refused':>7s} {'copies':>6s} {'mean Jaccard':>12s}")
        for k, v in r["byKind"].items():
            print(f"  {k:15s} {v['n']:3d} {v['right']:5d} {v['refused']:7d} {v['copies']:6d} {v['meanJaccard']:12.3f}")
        for row in r["rows"]:
            if row["got"] != row["want"]:
                print(f"    miss: {row['q']!r} want {row['want']} got {row['got']} (p {row['p']}, Jaccard {row['jaccard']})")
