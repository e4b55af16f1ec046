"""Reference point for the QA table: always answer each question type's most common training answer
(measured on the training seeds), asked on the same schedule as evaluate.py."""
from __future__ import annotations

from collections import Counter, defaultdict

from ..data.dataset import FPS
from ..data.render import QUESTIONS, answer
from ..data.world import World


def prior_baseline(eval_seeds, train_seeds, seconds: float = 60.0, window: int = 16) -> dict:
    def schedule(seed):
        w, kinds, qi = World(seed, seconds), list(QUESTIONS), 0
        for i in range(int(seconds * FPS)):
            oldest = (i - min(i + 1, window) + 1) / FPS
            if i >= 8 and i % 6 == 0:
                for _ in range(len(kinds)):
                    kind = kinds[qi % len(kinds)]
                    qi += 1
                    a = answer(w, kind, i / FPS, oldest, FPS)
                    if a is not None:
                        yield kind, a
                        break
    prior = defaultdict(Counter)
    for s in train_seeds:
        for k, a in schedule(s):
            prior[k][a] += 1
    hit = defaultdict(lambda: [0, 0])
    for s in eval_seeds:
        for k, a in schedule(s):
            hit[k][0] += int(prior[k].most_common(1)[0][0] == a)
            hit[k][1] += 1
    res = {k: {"accuracy": round(c / n, 3), "n": n, "answer": prior[k].most_common(1)[0][0]} for k, (c, n) in sorted(hit.items())}
    res["overall"] = round(sum(c for c, _ in hit.values()) / sum(n for _, n in hit.values()), 3)
    return res
