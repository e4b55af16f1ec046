"""A tiny tokenizer.json in the Llama-3 format: byte-level BPE over GPT-2's 256-symbol byte
alphabet, merges learned from a few lines of VideoLLM-online text, "ignore_merges" (a whole
pre-token that is in the vocab is one token), Llama-3's split regex, a post-processor that puts
<|begin_of_text|> first, and Llama-3's special tokens numbered after the BPE vocab.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Dict, List, Tuple

from .prompt import COMMENTARY, QUESTION, SUMMARY, SYSTEM_PROMPT

# Llama-3's pre-tokenizer split (tokenizer.json of Meta-Llama-3-8B-Instruct)
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")
# Python's re has no \p{L}: the same split for ASCII text, used here only to choose the merges (the
# tokenizer itself always splits with LLAMA3_SPLIT)
_ASCII_SPLIT = re.compile(r"'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\r\nA-Za-z0-9]?[A-Za-z]+|"
                          r"[0-9]{1,3}| ?[^\sA-Za-z0-9]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# Llama-3's first special tokens, in its order (ids 128000.. there, right after the BPE vocab here)
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
            "<|reserved_special_token_2|>", "<|reserved_special_token_3|>", "<|start_header_id|>",
            "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"]
BOS, EOS = "<|begin_of_text|>", "<|eot_id|>"

_CORPUS = "\n".join([
    SYSTEM_PROMPT, SYSTEM_PROMPT,
    QUESTION.format(question="what is happening?"), QUESTION.format(question="what is the person doing?"),
    QUESTION.format(question="what happened in the video?"), COMMENTARY, COMMENTARY, COMMENTARY,
    "\n[" + ",".join(["<v>"] * 3) + "]",
    "You are cooking. The person is cutting the tomato on the board, then putting it in the pan.",
    "The person picks up the bicycle wheel and the user is fixing the tire with a tool.",
    SUMMARY, "Assistant: you are doing well, the video shows that the player has the ball.",
])


def bytes_to_unicode() -> Dict[int, str]:
    """GPT-2's byte -> printable symbol table (byte-level BPE's alphabet): printable Latin-1 bytes
    stand for themselves, the others are moved to 256 + i."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def learn_merges(text: str, n_merges: int) -> List[Tuple[str, str]]:
    """Plain BPE training on `text`: repeatedly merge the most frequent adjacent pair (ties: the
    smaller pair), within pre-tokens only."""
    b2u = bytes_to_unicode()
    words = Counter(tuple(b2u[b] for b in w.encode("utf-8")) for w in _ASCII_SPLIT.findall(text))
    merges: List[Tuple[str, str]] = []
    while len(merges) < n_merges:
        pairs: Counter = Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merges.append(best)
        merged = Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] += c
        words = merged
    return merges


def build_tokenizer(n_merges: int = 80, n_reserved: int = 6) -> dict:
    """tokenizer.json: 256 byte symbols (ids in alphabet order), `n_merges` merged tokens, then
    SPECIALS and `n_reserved` more reserved special tokens."""
    b2u = bytes_to_unicode()
    vocab: Dict[str, int] = {sym: i for i, sym in enumerate(b2u.values())}
    merges = learn_merges(_CORPUS, n_merges)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    specials = SPECIALS + [f"<|reserved_special_token_{5 + i}|>" for i in range(n_reserved)]
    added = [{"id": len(vocab) + i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, s in enumerate(specials)]
    bos_id = added[0]["id"]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": BOS, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {BOS: {"id": BOS, "ids": [bos_id], "tokens": [BOS]}}}]},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }


def tokenizer_config(tok: dict) -> dict:
    """tokenizer_config.json as Meta-Llama-3-8B-Instruct has it (the fields an importer reads)."""
    return {"bos_token": BOS, "eos_token": EOS, "clean_up_tokenization_spaces": True,
            "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 1000000000000000019884624838656,
            "tokenizer_class": "PreTrainedTokenizerFast",
            "added_tokens_decoder": {str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in tok["added_tokens"]}}


def token_id(tok: dict, text: str) -> int:
    """The id of a special token or of a single vocab entry (as its byte-level symbols)."""
    for t in tok["added_tokens"]:
        if t["content"] == text:
            return t["id"]
    b2u = bytes_to_unicode()
    return tok["model"]["vocab"]["".join(b2u[b] for b in text.encode("utf-8"))]
