"""Follow-up questions without an LLM: "ومتى حدث ذلك؟" means nothing alone, so it is searched together with
the question it follows.

A question is a follow-up when it is short and refers back (ذلك، هذا، هو، it, that, they…), or has at most
one content word of its own. Its retrieval query is then the previous question (already resolved) plus this one;
the chain looks back a bounded number of turns so a long chat does not drift into one giant query.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from index.arabic import keyword_terms, normalize

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

    def add(self, question: str, query: str, answer: str = "") -> None:
        depth = self.chain[-1] + 1 if self.queries and query != question.strip() else 0
        self.questions.append(question)
        self.queries.append(query)
        self.chain.append(depth)
        self.answers.append(answer)

    def history(self) -> list[tuple[str, str]]:
        """(query as searched, answer text) per turn, oldest first: what an LLM rewrite reads."""
        return list(zip(self.queries, self.answers))

    def reset(self) -> None:
        self.questions.clear()
        self.queries.clear()
        self.chain.clear()
        self.answers.clear()
