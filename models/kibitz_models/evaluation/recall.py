"""Memory questions answered from what the commentary said and when: the evaluator's copy of the
runtime's src/model/recall.ts (what the rules mean is written in export.package.recall_manifest). Both are
checked against models/tests/recall_cases.json, so they cannot drift apart unnoticed.

A package's rules come from its game (games.catalogue.Game.recall, render.RECALL for the demo world), one
per question kind: the kind a viewer's question is about (the package's question classifier,
questions/classifier.py) picks the rule, never the question's wording."""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence, Tuple

PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}", re.I)


def line_phrases(text: str) -> List[str]:
    """A line is phrases joined by " and " (one per event, dataset.py joins them so); the scorers split it here too."""
    return [p.strip() for p in text.split(" and ") if p.strip()]


def _compile(rule: dict) -> re.Pattern:
    names, source, last = {"seconds", "line"}, "", 0
    for m in PLACEHOLDER.finditer(rule["line"]):
        source += re.escape(rule["line"][last:m.start()])
        name = m.group(1)
        source += "(.+)" if name == "line" else f"(?P<{name}>.+?)"
        names.add(name)
        last = m.end()
    source += re.escape(rule["line"][last:])
    for m in PLACEHOLDER.finditer(rule["answer"]):
        if m.group(1) not in names:
            raise ValueError(f'recall rule "{rule["kind"]}": answer uses {{{m.group(1)}}}, which its line "{rule["line"]}" does not define')
    return re.compile(f"^{source}$")


class Recall:
    def __init__(self, rules: Sequence[dict]):
        self.rules = list(rules)
        self.patterns = {id(r): _compile(r) for r in self.rules}
        self.by_kind: Dict[str, dict] = {}
        for r in self.rules:
            if r["kind"] in self.by_kind:
                raise ValueError(f'two recall rules for kind "{r["kind"]}": a kind has at most one')
            self.by_kind[r["kind"]] = r

    def for_kind(self, kind: Optional[str]) -> Optional[dict]:
        """The rule of a question kind; None when no rule names it (the model answers)."""
        return self.by_kind.get(kind) if kind else None

    def answer(self, rule: dict, said: Sequence[Tuple[float, str]], now_ms: float) -> Optional[str]:
        """From `said` ((stream ms, line), oldest first), newest phrase first; the rule's `none`
        when nothing matches; None when nothing matches and it has no `none` (the model answers)."""
        pattern = self.patterns[id(rule)]   # a rule `for_kind` returned
        from_ms = now_ms - rule["withinS"] * 1000 if "withinS" in rule else float("-inf")
        for ms, text in reversed(said):
            if ms > now_ms:
                continue
            if ms < from_ms:
                break
            for phrase in reversed(line_phrases(text)):
                m = pattern.match(phrase)
                if not m:
                    continue
                values = {**m.groupdict(), "seconds": str(int(ms // 1000)), "line": phrase}
                return PLACEHOLDER.sub(lambda x: values.get(x.group(1), ""), rule["answer"])
        return rule.get("none")
