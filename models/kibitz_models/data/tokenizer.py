"""Word-level vocabulary with digit pieces, written as a Hugging Face `tokenizer.json`.

Model: WordPiece (so numbers become digit pieces "1 ##3 ##0", which a small model learns to read
off the HUD digit by digit, and which decode back to "130"); normalizer Lowercase;
pre-tokenizer Whitespace (\\w+|[^\\w\\s]+); decoder WordPiece. The Python encode/decode below
mirror that pipeline exactly for the vocabulary we ship (tested against the JS library).
"""
from __future__ import annotations

import json
import re
from typing import Dict, List, Sequence

SPECIALS = ["<pad>", "<bos>", "<eos>", "<silent>", "<question>", "<answer>", "<summary>",
            "<commentary>", "<unk>"]
PAD, BOS, EOS, SILENT, QUESTION, ANSWER, SUMMARY, COMMENTARY, UNK = range(len(SPECIALS))
SPECIAL_IDS = {"pad": PAD, "bos": BOS, "eos": EOS, "silent": SILENT, "question": QUESTION,
               "answer": ANSWER, "summary": SUMMARY, "commentary": COMMENTARY, "unk": UNK}

# Words the world's templates use, then common chat words so free-form questions mostly encode.
WORDS = """
the player picks up a an red green blue yellow gem gems enemy enemies appears appear is hit
level begins game over new then at seconds second nothing happened and
what how many lives life left it are on screen colour color was last just when
? . , ! ' s
who where why there points point time current does do did have has you see i me tell can of in
to this that now much right get got lost lose die died win won stream streamer playing play going
with for my your yes no not be been will would should could which long ago recently summary
summarize happen happening picked collected collect pickup pickups heart hearts total count number
round stage minute minutes first ever hi hello kibitz lol gg nice wow please score happens
most recent took take taken get gets lost loses remaining remain still alive dead
""".split()
VOCAB_SIZE = 512


def build_vocab(extra: Sequence[str] = ()) -> Dict[str, int]:
    """`extra`: a game's own words (games/catalogue.py), after the shared ones, so a package for another game
    keeps every shared word's id (and a model started from the demo weights keeps its embeddings)."""
    vocab: Dict[str, int] = {}
    for t in SPECIALS:
        vocab[t] = len(vocab)
    for d in "0123456789":
        vocab[d] = len(vocab)
    for d in "0123456789":
        vocab["##" + d] = len(vocab)
    for w in list(WORDS) + list(extra):
        if w not in vocab:
            vocab[w] = len(vocab)
    if len(vocab) > VOCAB_SIZE:
        raise ValueError(f"vocabulary has {len(vocab)} entries, more than {VOCAB_SIZE}: shorten the game's word list")
    i = 0
    while len(vocab) < VOCAB_SIZE:
        vocab[f"<unused{i}>"] = len(vocab)
        i += 1
    return vocab


_PRE = re.compile(r"\w+|[^\w\s]+")


class Tokenizer:
    def __init__(self, extra: Sequence[str] = ()) -> None:
        self.vocab = build_vocab(extra)
        self.inv = {i: t for t, i in self.vocab.items()}

    def encode(self, text: str) -> List[int]:
        ids: List[int] = []
        for word in _PRE.findall(text.lower()):
            if word in self.vocab:
                ids.append(self.vocab[word])
                continue
            pieces, start, ok = [], 0, True
            while start < len(word):
                end, cur = len(word), None
                while start < end:
                    sub = word[start:end] if start == 0 else "##" + word[start:end]
                    if sub in self.vocab:
                        cur = sub
                        break
                    end -= 1
                if cur is None:
                    ok = False
                    break
                pieces.append(self.vocab[cur])
                start = end
            ids.extend(pieces if ok else [UNK])
        return ids

    def decode(self, ids: List[int]) -> str:
        out = []
        for i in ids:
            t = self.inv[int(i)]
            if int(i) < len(SPECIALS):
                continue
            if t.startswith("##") and out:
                out[-1] += t[2:]
            else:
                out.append(t)
        return " ".join(out)

    def to_hf_json(self) -> dict:
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [
                {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                 "normalized": False, "special": True} for i, t in enumerate(SPECIALS)],
            "normalizer": {"type": "Lowercase"},
            "pre_tokenizer": {"type": "Whitespace"},
            "post_processor": None,
            "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": False},
            "model": {"type": "WordPiece", "unk_token": "<unk>", "continuing_subword_prefix": "##",
                      "max_input_chars_per_word": 100, "vocab": self.vocab},
        }

    def save(self, path: str) -> None:
        with open(path, "w") as f:
            json.dump(self.to_hf_json(), f, indent=1)
