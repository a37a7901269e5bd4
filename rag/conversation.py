"""Follow-up questions without an LLM: "ومتى حدث ذلك؟" means nothing alone, so it is searched together with
the question it follows.

A question is a follow-up when it is short and refers back (ذلك، هذا، هو، it, that, they…), or has at most
one content word of its own. Its retrieval query is then the previous question (already resolved) plus this one;
the chain looks back a bounded number of turns so a long chat does not drift into one giant query.

A follow-up that only asks *when* or *where* ("ومتى حدث ذلك؟", "when did that happen?", "أين؟") is about the
event the previous answer told, so it is answered from that answer's citations, not searched again (which
used to return the previous answer word for word): a date (or place) in the cited sentences, else in the
rest of their passage, else — for "when" — the article's publication date, said to be that.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from index.arabic import keyword_terms, language, normalize, split_sentences

_REFERRING_AR = {"ذلك", "هذا", "هذه", "تلك", "هو", "هي", "هم", "هما", "هناك", "حينها", "عندها", "ذاك",
                 "نفسه", "نفسها", "الامر", "الحدث", "عنه", "عنها", "عنهم", "منه", "منها", "له", "لها", "لهم"}
_REFERRING_EN = {"it", "that", "this", "those", "these", "they", "them", "he", "she", "him", "her", "his",
                 "its", "their", "there", "then"}
_WORD = re.compile(r"\w+")
# "ما هي/من هو …؟" (what is / who is …): هو/هي there is a copula, not a reference back.
_COPULA = re.compile(r"(?:^|\s)(?:ما|من|ماذا)\s+(?:هو|هي|هم|هما)(?=\s|$)")
# "(و)ماذا عن …؟" (and what about …?) only makes sense after another question.
_WHAT_ABOUT = re.compile(r"^[وف]?ماذا عن\s")
#: How many earlier turns a follow-up may reach back through.
MAX_CHAIN = 2


def is_follow_up(question: str) -> bool:
    text = normalize(question)
    if _WHAT_ABOUT.match(text):
        return True
    words = set(_WORD.findall(_COPULA.sub(" ", text)))
    # Arabic attaches pronouns: ("ومتى حدث ذلك") has "ذلك"; ("متى بدأت؟") has few content words.
    stripped = {w[1:] if w.startswith(("و", "ف")) and len(w) > 3 else w for w in words}
    refers = bool((words | stripped) & (_REFERRING_AR | _REFERRING_EN))
    # A referring word counts only in a short question: "that" is also a conjunction ("who confirmed that…").
    n_terms = len(keyword_terms(question))
    return (refers and n_terms <= 3) or n_terms <= 1


@dataclass
class Conversation:
    """The turns so far; ``resolve`` turns a new question into the query to retrieve with."""

    questions: list[str] = field(default_factory=list)   # as asked
    queries: list[str] = field(default_factory=list)     # as searched
    chain: list[int] = field(default_factory=list)       # how many turns each query reaches back
    answers: list[str] = field(default_factory=list)     # each turn's answer text (an LLM rewrite reads it)
    results: list[Any] = field(default_factory=list)     # each turn's Answer (a when/where follow-up reads it)

    @classmethod
    def replay(cls, turns: Sequence[tuple[str, str]]) -> "Conversation":
        """The conversation an HTTP client's earlier (question, answer) turns make: a stateless client sends
        the whole chat with each request, so it is rebuilt turn by turn with the rule ``rag chat`` applies
        (each question resolved against the ones before it)."""
        conversation = cls()
        for question, answer in turns:
            if question.strip():
                conversation.add(question, conversation.resolve(question), answer)
        return conversation

    def resolve(self, question: str) -> str:
        question = question.strip()
        if not self.queries or not is_follow_up(question) or self.chain[-1] >= MAX_CHAIN:
            return question
        return f"{self.queries[-1]} {question}"

    def add(self, question: str, query: str, answer: str = "", result: Any = None) -> None:
        depth = self.chain[-1] + 1 if self.queries and query != question.strip() else 0
        self.questions.append(question)
        self.queries.append(query)
        self.chain.append(depth)
        self.answers.append(answer)
        self.results.append(result)

    def previous_answer(self) -> Any:
        """The last answer that was not a refusal (what "that" in "when did that happen?" refers to)."""
        for r in reversed(self.results):
            if r is not None and not r.refused and r.citations:
                return r
        return None

    def history(self) -> list[tuple[str, str]]:
        """(query as searched, answer text) per turn, oldest first: what an LLM rewrite reads."""
        return list(zip(self.queries, self.answers))

    def reset(self) -> None:
        self.questions.clear()
        self.queries.clear()
        self.chain.clear()
        self.answers.clear()
        self.results.clear()


# ------------------------------------------------------------------------------ when / where follow-ups ---
#: Words a "when/where" follow-up may have besides its question word and the reference back.
_EVENT_WORDS = {normalize(w) for w in "حدث جرى وقع تم كان كانت ذلك هذا هذه happen happened did was were "
                "it that this take took place occur occurred حصل".split()}


def follow_up_kind(question: str) -> str | None:
    """"time" or "place" for a follow-up that asks only when or where ("ومتى حدث ذلك؟", "أين؟", "when did
    that happen?"), else None."""
    from .answer.question_type import question_kind

    if not is_follow_up(question):
        return None
    kind = question_kind(question)
    if kind not in {"time", "place"}:
        return None
    own = [t for t in keyword_terms(question) if t not in _EVENT_WORDS and normalize(t) not in _EVENT_WORDS]
    return kind if len(own) <= 1 else None


_SAID = {
    ("time", "text", "ar"): "ورد في النص المقتبس أن ذلك كان {span}.",
    ("time", "text+date", "ar"): "ورد في النص المقتبس أن ذلك كان {span}، والمقال منشور بتاريخ {date}.",
    ("time", "article", "ar"): "لا يذكر النص المقتبس متى حدث ذلك؛ المقال منشور بتاريخ {date}.",
    ("place", "text", "ar"): "ورد في النص المقتبس أن ذلك كان في {span}.",
    ("time", "text", "en"): "The quoted text dates it: {span}.",
    ("time", "text+date", "en"): "The quoted text dates it: {span}; the article is dated {date}.",
    ("time", "article", "en"): "The quoted text does not say when; the article is dated {date}.",
    ("place", "text", "en"): "The quoted text places it: {span}.",
    ("time", "none", "ar"): "لا يذكر النص المقتبس ولا مقاله متى حدث ذلك؛ المقاطع التي استند إليها الجواب السابق معروضة أدناه.",
    ("place", "none", "ar"): "لا يذكر النص المقتبس ولا مقاله أين حدث ذلك؛ المقاطع التي استند إليها الجواب السابق معروضة أدناه.",
    ("time", "none", "en"): "Neither the quoted text nor its article says when that happened; the passages the previous "
                            "answer came from are shown below.",
    ("place", "none", "en"): "Neither the quoted text nor its article says where that happened; the passages the "
                             "previous answer came from are shown below.",
}


def answer_follow_up(question: str, previous: Any) -> Any:
    """The date or place of ``previous`` (an Answer) as the answer to a when/where follow-up, cited to the
    passage it comes from; when neither the cited text nor the article has one, a refusal saying so (with
    the cited passages as possibly related) rather than the previous answer again. None when ``question``
    is no when/where follow-up."""
    from .answer.base import SUPPORTED, Answer, AnswerSentence, Evidence

    kind = follow_up_kind(question)
    if kind is None or previous is None:
        return None
    lang = "ar" if language(question) == "ar" else "en"
    found = _find(kind, question, previous.citations)
    if found is not None:
        cit, (s0, s1), (a, b) = found
        sentence = cit.passage[s0 - cit.passage_start: s1 - cit.passage_start]
        span_text = sentence[a:b]
        precise = kind == "place" or _has_year_or_month(span_text)
        how = "text" if precise or not cit.date else "text+date"
        cit = replace(cit, span=(s0, s1), sentence=sentence, spans=((s0, s1),))
    else:
        cit = next((c for c in previous.citations if c.date), None) if kind == "time" else None
        if cit is None:
            text = _SAID[(kind, "none", lang)]
            return Answer(question, (AnswerSentence(text, ()),), (), True, lang, previous.answerer,
                          related=previous.citations, evidence=0.0,
                          meta={"follow_up": kind, "found_in": None, "previous_question": previous.question})
        how, span_text = "article", ""
    quoted = f"«{span_text}»" if lang == "ar" else f"“{span_text}”"
    text = _SAID[(kind, how, lang)].format(span=quoted, date=cit.date or "")
    target = cit.date if how == "article" else quoted[1:-1]
    at = text.find(target)
    answer_span = (at, at + len(target)) if at >= 0 and target else None
    cit = replace(cit, number=1)
    # told, not quoted: the claim rests on the cited sentence holding the date or place (or on the article's
    # date), which is shown beside it as its evidence
    evidence = (Evidence(cit.sentence, cit.span, 1.0, 1),) if how != "article" else ()
    sentence = AnswerSentence(text, (1,), answer_span=answer_span, label=SUPPORTED, evidence=evidence)
    return Answer(question, (sentence,), (cit,), False, lang,
                  previous.answerer, evidence=previous.evidence,
                  meta={"follow_up": kind, "found_in": "article date" if how == "article" else "cited text",
                        "previous_question": previous.question})


def _find(kind: str, question: str, citations: Any) -> Any:
    """(citation, sentence span in the article, answer span in the sentence) of the first date/place in
    the cited sentences, else in the other sentences of the cited passages (nearest first)."""
    from .answer.question_type import answer_span

    for c in citations:
        for s0, s1 in c.spans:
            sp = answer_span(kind, c.passage[s0 - c.passage_start: s1 - c.passage_start], question)
            if sp and _specific(kind, c.passage[s0 - c.passage_start: s1 - c.passage_start][sp[0]:sp[1]]):
                return c, (s0, s1), sp
    for c in citations:
        cited = c.spans[0][0]
        others = sorted(split_sentences(c.passage), key=lambda x: abs(c.passage_start + x[0] - cited))
        for a, b in others:
            sp = answer_span(kind, c.passage[a:b], question)
            if sp and _specific(kind, c.passage[a:b][sp[0]:sp[1]]):
                return c, (c.passage_start + a, c.passage_start + b), sp
    return None


_YEAR_OR_MONTH = re.compile(r"\d{3,4}|\d{1,2}[-/.]\d{1,2}")


def _has_year_or_month(span: str) -> bool:
    """A date that stands alone ("أغسطس 2024", "2023-08-31"), unlike "الخميس", which needs the article's."""
    from .answer.question_type import mentions_month

    return bool(_YEAR_OR_MONTH.search(normalize(span))) or mentions_month(span)


def _specific(kind: str, span: str) -> bool:
    """A date worth telling: not a bare "since"/"during" or "ago"."""
    return kind == "place" or bool(re.search(r"\d|[^\W\d_]{3,}", span))
