"""What an answer is, and the Answerer protocol every backend (extractive, LLM) implements.

An answer is a list of sentences, each carrying the numbers of the citations that support it; a citation
points at one passage *and* the exact character spans of the sentences quoted from it in the article, so
the UI can open the article at those sentences and the JSON output can be checked mechanically. A passage
is cited once, under one number, however many of its sentences the answer quotes: the sources list shows
each passage once with all of them marked.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Generator, Iterator, Protocol, Sequence

from ..retrieval import Hit, Retrieval


@dataclass(frozen=True)
class Citation:
    number: int
    article_id: str
    chunk_id: int
    title: str
    date: str | None
    source: str | None
    url: str | None
    passage: str                  # the chunk text, as in the article
    passage_start: int            # offset of the passage in the article text
    span: tuple[int, int]         # offsets of the (first) supporting sentence in the article text
    sentence: str                 # == article_text[span[0]:span[1]]
    score: float
    also_in: tuple[str, ...] = () # other sources that carried the same story (collapsed duplicates)
    verified: bool = True         # the cited sentence is supported by this passage
    reattributed: bool = False    # an LLM cited another passage; the check moved the citation here
    origin: str | None = None     # where the article was read from: "archive/feed.jsonl#17 (id …)"
    spans: tuple[tuple[int, int], ...] = ()   # every sentence quoted from this passage, reading order
                                              # (spans[0] == span; filled in from span when not given)

    def __post_init__(self) -> None:
        if not self.spans:
            object.__setattr__(self, "spans", (tuple(self.span),))

    @property
    def sentence_in_passage(self) -> tuple[int, int]:
        return self.span[0] - self.passage_start, self.span[1] - self.passage_start

    @property
    def spans_in_passage(self) -> tuple[tuple[int, int], ...]:
        """Every quoted sentence's offsets in :attr:`passage` (what the sources list highlights)."""
        return tuple((a - self.passage_start, b - self.passage_start) for a, b in self.spans)

    @property
    def sentences(self) -> tuple[str, ...]:
        return tuple(self.passage[a:b] for a, b in self.spans_in_passage)


#: What the check established about an answer sentence (see :mod:`rag.answer.labels`): ``quoted`` (its content
#: words are in the evidence, same script), ``supported`` (above the support threshold, every number and name
#: found in the evidence), ``related`` (about the passage, but across scripts or with a name or claim that
#: could not be matched: to be read against the evidence), ``unsupported`` (flagged), ``none`` (states no
#: fact: a refusal, "the passages do not answer").
QUOTED, SUPPORTED, RELATED, UNSUPPORTED, NO_CLAIM = "quoted", "supported", "related", "unsupported", "none"
LABELS = (QUOTED, SUPPORTED, RELATED, UNSUPPORTED, NO_CLAIM)
#: Only these may be shown as confirmed.
CONFIRMED = frozenset({QUOTED, SUPPORTED})


@dataclass(frozen=True)
class Evidence:
    """A sentence of a cited passage that a claim rests on, shown beside the claim so a reader checks it in
    one look (an English claim beside the Arabic sentence it translates)."""

    text: str                     # == article_text[span[0]:span[1]]
    span: tuple[int, int]         # offsets in the article text
    score: float                  # how well it supports the claim (cosine + keyword recall, per sentence)
    citation: int                 # the number of the citation whose passage holds it

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "span": list(self.span), "score": round(self.score, 4),
                "citation": self.citation}


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citations: tuple[int, ...]
    flagged: bool = False         # no passage supports it (LLM answers only)
    answer_span: tuple[int, int] | None = None   # the short answer inside ``text`` (offsets into it)
    label: str = NO_CLAIM         # one of LABELS
    evidence: tuple[Evidence, ...] = ()

    @property
    def confirmed(self) -> bool:
        return self.label in CONFIRMED


@dataclass(frozen=True)
class Answer:
    question: str
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    refused: bool
    language: str                 # "ar" | "en": the question's language, used for messages
    answerer: str
    related: tuple[Citation, ...] = ()   # when refused: the nearest passages, "possibly related"
    notes: tuple[str, ...] = ()
    evidence: float = 0.0         # the score the refusal decision was made on
    timings: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The answer with its ``[n]`` markers, as shown to the user."""
        parts = []
        for s in self.sentences:
            marks = "".join(f"[{n}]" for n in s.citations)
            parts.append(f"{s.text} {marks}".rstrip())
        return "\n".join(parts) if self.refused else " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        def cit(c: Citation) -> dict[str, Any]:
            d = asdict(c)
            d["span"] = list(c.span)
            d["spans"] = [list(x) for x in c.spans]
            d["sentences"] = list(c.sentences)
            d["passage_text"] = d.pop("passage")
            d.pop("verified")  # what was checked is the sentence's label, not a yes/no on the citation
            return d

        return {
            "question": self.question, "answer": self.text, "refused": self.refused,
            "language": self.language, "answerer": self.answerer,
            "sentences": [sentence_json(s) for s in self.sentences],
            "citations": [cit(c) for c in self.citations],
            "related": [cit(c) for c in self.related],
            "notes": list(self.notes), "evidence": round(self.evidence, 4),
            "timing": {k: round(v, 4) for k, v in self.timings.items()}, "meta": self.meta,
        }


def sentence_json(s: AnswerSentence) -> dict[str, Any]:
    span = list(s.answer_span) if s.answer_span else None
    return {"text": s.text, "citations": list(s.citations), "flagged": s.flagged, "label": s.label,
            "confirmed": s.confirmed, "evidence": [e.to_json() for e in s.evidence], "answer_span": span,
            "answer_text": s.text[span[0]:span[1]] if span else None}


class Answerer(Protocol):
    """Turns retrieved passages into a cited answer. ``stream`` yields sentences (or tokens) as they come
    and returns the final :class:`Answer` as the generator's value."""

    name: str

    def answer(self, question: str, retrieval: Retrieval) -> Answer: ...

    def stream(self, question: str, retrieval: Retrieval) -> Iterator[str]: ...


def drain(stream: Generator[str, None, Answer]) -> Answer:
    """Run an answer stream to its end and return the Answer it returns (for callers that don't stream)."""
    while True:
        try:
            next(stream)
        except StopIteration as done:
            return done.value


AnswererFactory = Callable[..., Answerer]
_REGISTRY: dict[str, AnswererFactory] = {}


def register(name: str, factory: AnswererFactory) -> None:
    _REGISTRY[name] = factory


def names() -> list[str]:
    return sorted(_REGISTRY)


def create(name: str, **kwargs: Any) -> Answerer:
    if name not in _REGISTRY:
        raise ValueError(f"unknown answerer {name!r}; choose one of: {', '.join(names())}")
    return _REGISTRY[name](**kwargs)


def citation_for(number: int, hit: Hit, span: tuple[int, int] | Sequence[tuple[int, int]],
                 score: float) -> Citation:
    """A citation of ``hit`` whose supporting sentence is at article offsets ``span`` — or, given a list
    of spans, whose supporting sentences are all of those (one number for the passage)."""
    c = hit.chunk
    spans = [tuple(span)] if isinstance(span[0], int) else sorted(tuple(x) for x in span)  # type: ignore[arg-type]
    first = spans[0]
    sentence = c.text[first[0] - c.start: first[1] - c.start]
    return Citation(number, c.article_id, c.id, c.title, c.date, c.source, c.url, c.text, c.start, first,  # type: ignore[arg-type]
                    sentence, round(float(score), 4), tuple(s for s in hit.sources if s != c.source),
                    spans=tuple(spans), origin=c.origin)  # type: ignore[arg-type]
