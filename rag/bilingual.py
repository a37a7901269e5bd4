"""English question words → Arabic keyword terms, from Debian's FreeDict English–Arabic dictionary.

Why: an English question over Arabic news finds nothing by keyword, so its hybrid ranking is the dense leg
alone. A word-by-word dictionary gives the keyword leg something to match ("spokesman" → الناطق,
"confirm" → أكد), used only as a small bonus on the dense candidates (see ``rag.retrieval``): it cannot
find new passages, only reorder the ones the embedding already found.

The dictionary is GPL: it is read at run time from ``/usr/share/dictd/`` (``apt-get install
dict-freedict-eng-ara``), never copied into the repository; without it everything works, minus the bonus.
It is loaded lazily, once per process, and only when a Latin-script question arrives, so the Arabic fast
path never pays for it (~0.1 s to load 87k headwords).
"""
from __future__ import annotations

import gzip
import re
import threading
from functools import lru_cache
from pathlib import Path

from index.arabic import STOPWORDS, keyword_terms, light_stem, normalize, script

#: Where Debian installs the dictd files (``<base>.index`` and ``<base>.dict.dz``).
DICTIONARY = Path("/usr/share/dictd/freedict-eng-ara")
#: Senses kept per headword: the first ones are the common meanings; later ones add noise.
MAX_SENSES = 3
_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
_WORD = re.compile(r"[a-z][a-z'’-]*")
#: Question words the stopword list keeps (they mean something in a passage, not in a question).
_QUESTION_WORDS = frozenset("many much long old far often kind type name called happened year".split())
_NUMBERED = re.compile(r"^\s*\d+\.\s*")


def _b64(text: str) -> int:
    """dictd's offsets and lengths: base64 digits, most significant first."""
    value = 0
    for c in text:
        value = value * 64 + _B64[c]
    return value


class Dictionary:
    """A dictd dictionary (index + dictzip data), parsed on first use."""

    def __init__(self, base: Path | str = DICTIONARY) -> None:
        self.base = Path(base)
        self._entries: tuple[bytes, dict[str, list[tuple[int, int]]]] | None = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self.base.with_suffix(".index").is_file() and self.base.with_suffix(".dict.dz").is_file()

    def _load(self) -> tuple[bytes, dict[str, list[tuple[int, int]]]]:
        """The decompressed data and headword → (offset, length) of its entries; bodies are decoded on lookup."""
        with self._lock:
            if self._entries is None:
                data = gzip.decompress(self.base.with_suffix(".dict.dz").read_bytes())
                where: dict[str, list[tuple[int, int]]] = {}
                for line in self.base.with_suffix(".index").read_text(encoding="utf-8").splitlines():
                    parts = line.split("\t")
                    if len(parts) == 3 and not parts[0].startswith("00database"):
                        where.setdefault(parts[0].lower(), []).append((_b64(parts[1]), _b64(parts[2])))
                self._entries = (data, where)
        return self._entries

    def senses(self, word: str) -> list[str]:
        """The Arabic translations of an English word (or a two-word headword), tried as written, then
        singular / without -ed / -ing."""
        data, where = self._load()
        for form in _forms(word.lower()):
            if form in where:
                senses = [s for off, n in where[form] for s in _senses(data[off:off + n].decode("utf-8", "replace"))]
                if senses:
                    return senses[:MAX_SENSES]
        return []

    def arabic_terms(self, question: str) -> list[str]:
        """Keyword terms (the index's own normalization and stems) of the translations of the question's
        content words; two-word headwords ("north korea") are preferred to their words."""
        words = [w for w in _WORD.findall(normalize(question)) if w not in STOPWORDS and w not in _QUESTION_WORDS and len(w) > 1]
        terms: list[str] = []
        i = 0
        while i < len(words):
            pair = self.senses(f"{words[i]} {words[i + 1]}") if i + 1 < len(words) else []
            senses = pair or self.senses(words[i])
            for sense in senses:
                terms.extend(keyword_terms(sense))
            i += 2 if pair else 1
        return list(dict.fromkeys(terms))


def _senses(body: str) -> list[str]:
    """The Arabic lines of one entry (the first line is the headword and its pronunciation)."""
    out = []
    for line in body.split("\n")[1:]:
        line = _NUMBERED.sub("", line).strip()
        if line and script(line) == "arabic":
            out.append(line)
    return out


def _forms(word: str) -> list[str]:
    forms = [word, light_stem(word)]
    if word.endswith("ies"):
        forms.append(word[:-3] + "y")
    for suffix in ("ed", "ing", "es", "s", "d"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            forms.append(word[: -len(suffix)])
    return list(dict.fromkeys(forms))


@lru_cache(maxsize=1)
def default_dictionary() -> Dictionary | None:
    """The installed FreeDict eng-ara, or None when it is not installed (no bonus then)."""
    d = Dictionary(DICTIONARY)
    return d if d.available else None


def translated_terms(question: str) -> list[str]:
    """Arabic keyword terms for a Latin-script question; [] for any other question or without the dictionary."""
    if script(question) != "latin":
        return []
    d = default_dictionary()
    return d.arabic_terms(question) if d is not None else []
