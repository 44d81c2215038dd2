"""Synthetic variants of real documents, for the dedupe tests and its evaluation benchmark."""
from __future__ import annotations

import random

OCR = {"e": "c", "c": "e", "l": "1", "i": "l", "o": "0", "h": "b", "u": "n", "n": "u",
       "a": "o", "s": "5", "m": "rn", "t": "f", "r": "n"}


def ocr_noise(text: str, rate: float, seed: int) -> str:
    """Substitute (OCR confusions), drop or split letters at ``rate``."""
    rng = random.Random(seed)
    out = []
    for ch in text:
        if ch.isalpha() and rng.random() < rate:
            r = rng.random()
            if r < 0.6:
                out.append(OCR.get(ch.lower(), ch))
            elif r < 0.8:
                continue
            else:
                out.append(ch + rng.choice(".,' "))
        else:
            out.append(ch)
    return "".join(out)


def reflow(text: str, width: int = 61) -> str:
    lines, line = [], ""
    for w in text.split():
        if len(line) + len(w) > width:
            lines.append(line)
            line = ""
        line = f"{line} {w}".strip()
    return "\n".join(lines + [line])


def straight_quotes(text: str) -> str:
    return text.translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'}))


def drop_paragraph(text: str) -> str:
    """Leave out the longest middle paragraph that holds at most 15 % of the words."""
    paras = text.split("\n")
    total = len(text.split())
    ok = [i for i in range(1, len(paras) - 1) if len(paras[i].split()) <= 0.15 * total]
    i = max(ok, key=lambda i: len(paras[i].split()))
    return "\n".join(paras[:i] + paras[i + 1:])


def with_footnotes(doc) -> str:
    return doc.text + "\n" + "\n".join(f"{k}. {f.text}" for k, f in enumerate(doc.footnotes, 1))
