"""What the question classifier sees of a viewer's question: hashed word, word-pair and character
n-gram counts, L2-normalised. The toolkit's copy of the runtime's src/questions/features.ts; both
are checked against models/tests/question_features_cases.json, so they cannot drift apart.

    normalise   A-Z lower-cased (only ASCII: other scripts' case rules differ between languages),
                apostrophes dropped ("what's" -> "whats"), anything but a-z 0-9 -> one space
    words       "w:" + word
    pairs       "b:" + w1 + " " + w2 over ^ words $ (so "^ score" differs from "score" anywhere)
    chars       "c:" + each n-gram (n in `chars`) of "<" + word + ">"; a typo breaks a few, not all
    hash        FNV-1a 32 over the feature's bytes (all ASCII), modulo `buckets`

A question with no letter or digit left (an emoji, "???") has no features: it asks about nothing."""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Dict, List, Sequence, Tuple

APOSTROPHES = re.compile("['\u2019\u2018`\u02bc]")
NOT_ALNUM = re.compile(r"[^a-z0-9]+")
UPPER = re.compile(r"[A-Z]")

DEFAULT_SPEC = {"buckets": 4096, "chars": [3, 4]}


def normalise(text: str) -> str:
    s = UPPER.sub(lambda m: m.group(0).lower(), text)
    s = APOSTROPHES.sub("", s)
    return NOT_ALNUM.sub(" ", s).strip()


def feature_strings(text: str, chars: Sequence[int] = (3, 4)) -> List[str]:
    """The features of a question before hashing, in a fixed order (words, pairs, chars)."""
    s = normalise(text)
    words = s.split(" ") if s else []
    if not words:
        return []
    out = [f"w:{w}" for w in words]
    padded = ["^"] + words + ["$"]
    out += [f"b:{a} {b}" for a, b in zip(padded, padded[1:])]
    for w in words:
        g = f"<{w}>"
        for n in chars:
            out += [f"c:{g[i:i + n]}" for i in range(len(g) - n + 1)]
    return out


def fnv1a(s: str) -> int:
    h = 0x811C9DC5
    for b in s.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def featurise(text: str, spec: dict = DEFAULT_SPEC) -> Tuple[List[int], List[float]]:
    """(bucket indices ascending, values): counts per bucket scaled to unit length; empty when no features."""
    counts: Dict[int, int] = Counter(fnv1a(f) % spec["buckets"] for f in feature_strings(text, spec["chars"]))
    if not counts:
        return [], []
    norm = math.sqrt(sum(c * c for c in counts.values()))
    idx = sorted(counts)
    return idx, [counts[i] / norm for i in idx]
