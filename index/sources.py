"""``--source NAME`` → the stored spellings it means: Arabic-normalized, whole-word prefix, or "closest: …".

Why: archives spell one publisher several ways (``الأهرام`` / ``الاهرام``, ``السومرية`` / ``السومرية العراقية``)
and a user types the short, unvocalized form. Filtering by exact string silently returned nothing. So a name
matches every stored source whose normalized words (index.arabic.tokenize: hamza forms, tashkeel, case,
punctuation folded) *start with* the name's words — whole words only, so ``الأهر`` matches nothing while
``السومرية`` matches ``السومرية العراقية``. A name that matches none is an error that names the closest
stored ones, since an empty filter would only produce an empty answer.
"""
from __future__ import annotations

import difflib
from typing import Iterable, Sequence

from .arabic import tokenize

#: How many near spellings an unknown name's message offers.
CLOSEST = 3


def quote(name: str) -> str:
    """A name in «»: Arabic quotation marks, which are bidi-mirrored, so they stay on the two sides of an
    Arabic name in right-to-left display; Python's repr quotes (``'الأهرام'``) would land on the wrong sides."""
    return f"«{name}»"


class UnknownSource(ValueError):
    """A ``--source`` that matches no stored source; the message offers the closest ones."""

    def __init__(self, name: str, closest: Sequence[str]) -> None:
        self.name, self.closest = name, tuple(closest)
        near = ", ".join(quote(c) for c in closest) if closest else "none (`rag index sources` lists them)"
        super().__init__(f"no source named {quote(name)}; closest: {near}")


def _words(name: str) -> tuple[str, ...]:
    return tuple(tokenize(name))


def matches(name: str, stored: str) -> bool:
    """``name`` is the start of ``stored``, word by word, after Arabic normalization."""
    want, have = _words(name), _words(stored)
    return bool(want) and have[: len(want)] == want


def resolve(names: Iterable[str], stored: Sequence[str]) -> tuple[str, ...]:
    """The stored spellings the given names mean, each once, in stored order; UnknownSource for a name
    that means none of them (a blank name is ignored). ``الأهرام`` means ``الأهرام`` alone when that is
    stored, not also ``الأهرام المسائي``; ``السومرية`` means every ``السومرية …``."""
    chosen: set[str] = set()
    for name in names:
        if not _words(name):
            continue
        # an exact (normalized) name means that source only; otherwise every source it starts
        hits = [s for s in stored if _words(s) == _words(name)] or [s for s in stored if matches(name, s)]
        if not hits:
            raise UnknownSource(name.strip(), closest(name, stored))
        chosen.update(hits)
    return tuple(s for s in stored if s in chosen)


def closest(name: str, stored: Sequence[str], n: int = CLOSEST) -> list[str]:
    """The stored names most like ``name`` (compared normalized), best first."""
    keys: dict[str, str] = {}
    for s in stored:
        keys.setdefault(" ".join(_words(s)), s)
    want = " ".join(_words(name))
    return [keys[k] for k in difflib.get_close_matches(want, list(keys), n=n, cutoff=0.4)]
