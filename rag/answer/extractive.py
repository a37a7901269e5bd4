"""The offline answerer: pick the sentences of the retrieved passages that answer the question.

Sentences are scored by meaning (cosine between the question and the sentence, embedded as a passage),
IDF-weighted keyword overlap with the question (across scripts: transliterated names and reporting verbs,
see crossling.py), how well their passage matched, and whether they hold what the question asks for (a
number for "كم", a date for "متى"…, see question_type.py); never by position in the article. Which sentences
are quoted also weighs what must not move the refusal (the previous sentence's keyword overlap; across
scripts the dictionary overlap and the type bonus): those count in the choice, not in the evidence. The best
sentence leads; a few more join it only when they score close to it, so answers stay short. Every
sentence is quoted verbatim from its passage; sentences of one passage share its citation number.

The evidence is the refusal model's log-odds that the best sentence holds what was asked (refusal.py:
the best score, question words no retrieved sentence contains, how the best sentence stands out…), minus
its rules (a named place, or an asked number/date, found nowhere): on topic is not an answer. Below the
threshold calibrated on the dev sets (``bench/refusal_model.py``, per script), the answerer refuses in the
question's language, says what it did not find, and lists what came closest as "possibly related".
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Iterator

from index.arabic import keyword_terms, language, normalize, script, split_sentences
from index.embedders import Embedder

from ..bilingual import translated_terms
from ..messages import refusal_sentences
from ..retrieval import Hit, Retrieval
from . import answerability, crossling, refusal
from .base import QUOTED, Answer, AnswerSentence, Evidence, citation_for, drain
from .question_type import answer_span, is_fragment, place_names, question_kind, type_spans
from .sentence_vectors import SentenceVectors

#: Score = sentence cosine + LEXICAL_WEIGHT × keyword overlap + PASSAGE_WEIGHT × the passage's own cosine
#: − RANK_PENALTY × the passage's rank. Chosen by a sweep on 200 XQuAD-ar and 200 English questions
#: (sentence features cached, a disjoint sample from the reported evaluation): against (0.35, 0, 0, 0.04)
#: it raised answer containment .795 → .85 (ar) and .72 → .755 (en), and the refusal separation.
LEXICAL_WEIGHT = 0.2
PASSAGE_WEIGHT = 0.5
RANK_PENALTY = 0.01
#: Sentences embedded per question: the best MAX_CANDIDATES by keyword overlap (then passage rank), plus up
#: to TOP_PASSAGE_EXTRA more from the top passage. This is the only query-time embedding besides the
#: question's own, so it sets the answer's latency; on the tuning sample, 10 + 4 lost nothing in Arabic and
#: 0.5 point of English containment against 16 + all, with ~45% fewer sentences embedded on the seed.
MAX_CANDIDATES = 10
TOP_PASSAGE_EXTRA = 4
#: A further sentence joins the answer only if it scores within this of the best one.
JOIN_MARGIN = 0.06
#: Added to a sentence's score when it holds what the question asks for (a number for "how many", a date
#: for "when"…; rag/answer/question_type.py). Per kind, because the signals differ in sharpness
#: (`python bench/answer_types.py`: the gold sentence holds a number/date ~.9 of the time against ~.4 for
#: the other sentences of its paragraph; a person cue only .35-.69 against .15-.35). On the dev sets
#: (`python bench/answer_tuning.py`, 60 questions per set) no setting from 0 to 0.16 moved answer ⊇ gold by
#: more than one question per set either way, so the weights stay small: they decide between sentences
#: that are otherwise close (the seed's Kremlin-spokesman question), not against meaning.
TYPE_WEIGHT = {"number": 0.04, "time": 0.04, "place": 0.02, "person": 0.02, "reason": 0.02, "manner": 0.0}
#: What decides which sentences are quoted but stays out of the evidence (the refusal decision is calibrated
#: on the evidence alone, so these move no threshold). Chosen by leave-one-set-out over all dev questions
#: (`python bench/sentence_choice.py`: XQuAD-ar 1,190, ARCD 693, MLQA-ar 225 and the English XQuAD / MLQA
#: questions; each set's weight chosen on the others, never worse on any of them), bench/README §9c:
#:
#: CONTEXT_WEIGHT — same script: a sentence is chosen as if it held this share of the keyword overlap of the
#: sentence before it in its passage (when that is more than its own). Native questions paraphrase the
#: sentence that sets the topic and the answer follows it ("يحده من الجنوب الكويت …، ومن الشمال تركيا";
#: "… وخفض خطر حدوث المضاعفات. تتلخص تلك الخطوات في خفض الوزن، وكثرة الحركة."). Held out: XQuAD-ar
#: ⊇ gold .824 → .844, ARCD .794 → .818, MLQA-ar .627 → .631 (0.8–1.0 chosen on the other sets; quoted
#: sentences per answer 1.58 → 1.74 on XQuAD-ar).
CONTEXT_WEIGHT = 0.9
#: DICTIONARY_WEIGHT — across scripts: the IDF-weighted share of the question words' FreeDict translations
#: (rag.bilingual, the retrieval's dictionary leg) that a sentence holds. CROSS_TYPE_WEIGHT — across scripts:
#: the type bonus (in the evidence it lowered the refusal of answer-removed English questions, see
#: CROSS_LEXICAL_WEIGHT; as a choice it does not touch the evidence). Held out: XQuAD-en ⊇ gold .712 → .733
#: (weights chosen on MLQA-en), MLQA-en .658 → .671 (chosen on XQuAD-en), with fewer sentences quoted.
DICTIONARY_WEIGHT = 0.03
CROSS_TYPE_WEIGHT = {"number": 0.02, "time": 0.02, "place": 0.02, "person": 0.02}
#: The hand-set evidence (``Scored.heuristic``, the refusal model's baseline in bench/) — subtracted per
#: share of the question's terms that no sentence of the retrieved passages contains: on topic is not an
#: answer. Same-script questions only. Chosen on the dev sets: 0.1
#: lifts XQuAD-ar answer-removed refusal (at 10 % answerable refused) .76 → .82 and leaves ARCD and MLQA
#: as they were; 0.2 and more cost ARCD (.53 → .45), where paraphrased questions share fewer words.
MISSING_WEIGHT = 0.1
#: Across scripts the keyword overlap is the transliteration overlap (crossling.py), weighted lower, and
#: neither the type bonus nor the missing-word or kind penalties apply: on the English dev questions each of
#: them lowered the refusal of answer-removed questions at 10 % answerable refused (XQuAD-en .52 → .35 for a
#: names-missing penalty, MLQA-en .25 → .17 for the kind gate; `python bench/answer_tuning.py`). Only a
#: named place no passage transliterates ("What is the capital of Brazil?") counts, as NAMED_MISSING.
#: The bridge itself does not pay on the dev sets (weight 0 → 0.15: XQuAD-en ⊇ gold .783 → .767, removed
#: refused .52 → .48); it is kept, small, for what news questions name: with it "Who is the Kremlin
#: spokesman?" quotes the Peskov sentence alone, without it a sentence about Putin's video leads.
CROSS_LEXICAL_WEIGHT = 0.15
#: Kinds whose signal is sharp enough to refuse on its absence: a "how many" question over passages whose
#: sentences hold no number at all (nor a "when" without any date or time) is not answered, however on topic
#: (the seed's "كم عدد الجنود الكوريين الشماليين الذين قتلوا في كورسك؟"). Folded into the evidence as a
#: penalty so that the calibration sees the decision that is really made.
KIND_GATE = {"number": 0.5, "time": 0.5}
#: Subtracted when a place the question names (a country, a city: question_type.place_names) is in none of
#: the retrieved passages — "موقف الصين" over passages about Russia and North Korea. Only a named place
#: counts: other question words are often paraphrased by the passage (on the dev sets a quarter of the
#: answerable MLQA questions have a third of their words nowhere in the passages), a country rarely is
#: (`python bench/answer_tuning.py --named-check`).
NAMED_MISSING = 0.5

#: The evidence of a question without a single candidate sentence: below any threshold.
NO_EVIDENCE = -20.0


#: Words that only say what kind of answer is wanted ("كم عدد…", "ما اسم…"): an answer sentence rarely
#: repeats them, so their absence is not a missing topic.
_SCAFFOLD = set(keyword_terms("عدد نسبة حجم قيمة مساحة طول عمر تكلفة كلفة سعر مبلغ مدة اسم سبب أسباب تاريخ "
                              "موعد نوع كمية مقدار name number year date kind type amount percentage"))


@dataclass
class _Candidate:
    hit_rank: int
    hit: Hit
    span: tuple[int, int]        # article offsets
    text: str
    terms: set[str]
    lexical: float = 0.0
    cosine: float = 0.0
    holds: bool = False          # the sentence holds what the question asks for (a number, a date…)
    typed: float = 0.0           # TYPE_WEIGHT of the question's kind when it does (0 across scripts)
    lexical_weight: float = LEXICAL_WEIGHT
    spans: list[tuple[int, int]] = field(default_factory=list)   # where it holds the asked kind (sentence offsets)
    choice_bonus: float = 0.0    # counts for which sentence is quoted, not for the evidence (CONTEXT_WEIGHT…)
    answerable: float = 0.0      # the answerability head's log-odds that it answers the question (answerability.py)

    @property
    def dense(self) -> float:
        return self.hit.dense or 0.0

    @property
    def score(self) -> float:
        """What the refusal decision reads (the best candidate's is the evidence)."""
        return (self.cosine + self.lexical_weight * self.lexical + PASSAGE_WEIGHT * (self.hit.dense or 0.0)
                - RANK_PENALTY * self.hit_rank + self.typed)

    @property
    def choice(self) -> float:
        """What decides which sentences are quoted: the score plus the bonuses that must not move the evidence."""
        return self.score + self.choice_bonus


@dataclass
class Scored:
    """The candidates of one question, best first, and what the refusal decision reads besides them."""

    candidates: list[_Candidate]
    kind: str                    # what the question asks for (question_type.KINDS)
    missing: list[str]           # question words (as written) that no retrieved sentence contains
    missing_share: float         # their share of the question's terms (across scripts: of its names)
    kind_found: bool             # some candidate holds the asked kind (True when the kind asks nothing)
    named_missing: list[str] = field(default_factory=list)   # places the question names, in no passage
    cross: bool = False          # question and passages in different scripts
    idf: dict[str, float] = field(default_factory=dict)       # question term → IDF over the candidate pool
    hit_terms: list[set[str]] = field(default_factory=list)   # per retrieved passage: question terms in its text
    title_terms: set[str] = field(default_factory=set)        # question terms in the passages' titles

    @property
    def evidence(self) -> float:
        """What the threshold is compared with: the refusal model's log-odds that the best sentence holds
        what was asked (rag/answer/refusal.py; fitted on the dev sets) minus its rules (a named place or
        an asked number/date found nowhere), NO_EVIDENCE without a candidate."""
        if not self.candidates:
            return NO_EVIDENCE
        return refusal.evidence(refusal.features(self), self.cross)

    @property
    def heuristic(self) -> float:
        """The hand-set evidence used before the refusal model (best score minus the missing-word, kind and
        named-place penalties): one of the model's features' sources, and the baseline bench/ compares with."""
        best = max((c.score for c in self.candidates), default=0.0)  # sorted by choice, not score
        gate = 0.0 if self.kind_found or self.cross else KIND_GATE.get(self.kind, 0.0)
        named = NAMED_MISSING if self.named_missing else 0.0
        if self.cross:
            return best - named
        return best - MISSING_WEIGHT * self.missing_share - gate - named


def calibrated_thresholds(answerer: str = "extractive") -> dict[str, float]:
    """Refusal thresholds measured by ``rag eval --calibrate`` and shipped in rag/resources: one for
    questions in the passages' script ("same"), one across scripts ("cross")."""
    data = json.loads(resources.files("rag").joinpath("resources/calibration.json").read_text(encoding="utf-8"))
    return {kind: float(v["threshold"]) for kind, v in data[answerer].items()}


def is_cross_script(question: str, passage: str) -> bool:
    qs, ps = script(question), script(passage)
    return qs in {"arabic", "latin"} and ps in {"arabic", "latin"} and qs != ps


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(self, embedder: Embedder, max_sentences: int = 3, threshold: float | None = None,
                 related: int = 3) -> None:
        self.embedder = embedder
        self.max_sentences = max(1, max_sentences)
        self.thresholds = calibrated_thresholds() if threshold is None else {"same": threshold, "cross": threshold}
        self.related = related
        self._vectors = SentenceVectors(embedder)

    def answer(self, question: str, retrieval: Retrieval) -> Answer:
        return drain(self.stream(question, retrieval))

    def stream(self, question: str, retrieval: Retrieval) -> Iterator[str]:
        """Yield each answer sentence (with its marker) as it is chosen; return the full Answer."""
        lang = language(question)
        scored = self.scored(question, retrieval)
        candidates = scored.candidates
        best = scored.evidence
        threshold = self.threshold_for(question, retrieval)
        if not candidates or best < threshold:
            answer = self._refusal(question, retrieval, lang, best, threshold, scored)
            for s in answer.sentences:
                yield s.text
            return answer
        chosen = [c for c in candidates[: self.max_sentences * 3]
                  if c.choice >= candidates[0].choice - JOIN_MARGIN][: self.max_sentences]
        chosen = _dedupe(chosen)
        # Sensible order: stories in the order of their best sentence, sentences in reading order.
        story_rank: dict[str, int] = {}
        for c in chosen:
            story_rank.setdefault(c.hit.chunk.article_id, len(story_rank))
        chosen.sort(key=lambda c: (story_rank[c.hit.chunk.article_id], c.span[0]))
        # One citation per passage: sentences quoted from the same passage share its number, and the
        # citation lists every one of their spans (the sources show the passage once, all of them marked).
        numbers: dict[int, int] = {}
        by_passage: dict[int, list[_Candidate]] = {}
        sentences: list[AnswerSentence] = []
        for c in chosen:
            number = numbers.setdefault(c.hit.chunk.id, len(numbers) + 1)
            by_passage.setdefault(number, []).append(c)
            # the sentence is its own evidence: quoted by construction
            sentences.append(AnswerSentence(c.text, (number,), answer_span=answer_span(scored.kind, c.text, question),
                                            label=QUOTED, evidence=(Evidence(c.text, c.span, round(c.score, 4), number),)))
            yield f"{c.text} [{number}]"
        citations = tuple(citation_for(n, cs[0].hit, [c.span for c in cs], max(c.score for c in cs))
                          for n, cs in by_passage.items())
        return Answer(question, tuple(sentences), citations, False, lang, self.name,
                      evidence=best, meta={"threshold": threshold, "kind": scored.kind})

    def threshold_for(self, question: str, retrieval: Retrieval) -> float:
        cross = bool(retrieval.hits) and is_cross_script(question, retrieval.hits[0].chunk.text)
        return self.thresholds["cross" if cross else "same"]

    def score(self, question: str, retrieval: Retrieval) -> list[_Candidate]:
        """Candidate sentences of the retrieved passages, best first."""
        return self.scored(question, retrieval).candidates

    def scored(self, question: str, retrieval: Retrieval) -> Scored:
        """Candidate sentences of the retrieved passages, best first, with the refusal signals. Scored
        against what was searched (for a follow-up, the question resolved with the conversation), like the
        passages were; the kind of answer wanted comes from the question as asked ("ومتى حدث ذلك؟")."""
        kind = question_kind(question)
        q_terms = set(keyword_terms(retrieval.query.text))
        cands: list[_Candidate] = []
        seen_terms: set[str] = set()
        hit_terms: list[set[str]] = []
        title_terms: set[str] = set()
        for rank, hit in enumerate(retrieval.hits):
            c = hit.chunk
            in_hit: set[str] = set()
            for s, e in split_sentences(c.text):
                text = c.text[s:e]
                terms = set(keyword_terms(text))
                seen_terms |= terms
                in_hit |= terms
                if len(normalize(text)) < 3 or is_fragment(text):
                    continue            # a heading or a name alone ("صالح") is not an answer
                cands.append(_Candidate(rank, hit, (c.start + s, c.start + e), text, terms))
            hit_terms.append(in_hit & q_terms)
            title = set(keyword_terms(c.title or ""))
            title_terms |= title & q_terms
            seen_terms |= title
        cross = bool(retrieval.hits) and is_cross_script(question, retrieval.hits[0].chunk.text)
        keys = crossling.english_keys(question) if cross else []
        if cross:
            # across scripts only names can be checked: transliterated ("Brazil" ↔ "البرازيل")
            missing = crossling.missing_names(keys, [f"{h.chunk.title} {h.chunk.text}" for h in retrieval.hits])
            names = [k for k in keys if k[0] == "name"]
            share = len(missing) / len(names) if names else 0.0
        else:
            missing_terms = q_terms - seen_terms - _SCAFFOLD if cands else set()
            missing = _words_of(retrieval.query.text, missing_terms)
            share = len(missing_terms) / len(q_terms) if q_terms else 0.0
        named = place_names(missing)
        if not cands:
            return Scored([], kind, missing, share, False, named, cross)
        # IDF over the candidate pool: a word in every candidate sentence says little about which answers.
        df: dict[str, int] = {}
        for cand in cands:
            for t in cand.terms & q_terms:
                df[t] = df.get(t, 0) + 1
        idf = {t: math.log(1 + len(cands) / (1 + df.get(t, 0))) for t in q_terms}
        total = sum(idf.values()) or 1.0
        # Across scripts no term can match: transliterated names and reporting verbs stand in for them.
        for cand in cands:
            if cross:
                cand.lexical, cand.lexical_weight = crossling.overlap(keys, cand.text), CROSS_LEXICAL_WEIGHT
            else:
                cand.lexical = sum(idf[t] for t in cand.terms & q_terms) / total
        # Embed only the most promising sentences (keyword overlap, then passage rank), plus every sentence
        # of the top passage: dense retrieval found it even where the words differ (English questions).
        if cross:
            # Across scripts the pool stays the passages' own order (dense retrieval is what found them);
            # the sentences with the best transliteration overlap join it. Choosing the pool by that overlap
            # instead embedded the topic's sentences first and raised the evidence of unanswerable questions.
            pool = cands[:MAX_CANDIDATES] + [c for c in cands[MAX_CANDIDATES:] if c.hit_rank == 0][:TOP_PASSAGE_EXTRA]
            taken = {id(c) for c in pool}
            extra = sorted((c for c in cands if id(c) not in taken and c.lexical > 0),
                           key=lambda x: (-x.lexical, x.hit_rank))
            pool += extra[:TOP_PASSAGE_EXTRA]
        else:
            # each sentence's predecessor in its passage (reading order), for CONTEXT_WEIGHT
            previous = {id(b): a for a, b in zip(cands, cands[1:]) if a.hit is b.hit}
            cands.sort(key=lambda x: (-x.lexical, x.hit_rank))
            pool = cands[:MAX_CANDIDATES] + [c for c in cands[MAX_CANDIDATES:] if c.hit_rank == 0][:TOP_PASSAGE_EXTRA]
            for c in pool:
                if (before := previous.get(id(c))) is not None:
                    c.choice_bonus = LEXICAL_WEIGHT * max(0.0, CONTEXT_WEIGHT * before.lexical - c.lexical)
        vecs = self._vectors([p.text for p in pool])
        cos = vecs @ retrieval.query_vector
        answerable = answerability.shipped().logits(retrieval.query_vector, vecs)
        weight = 0.0 if cross else TYPE_WEIGHT.get(kind, 0.0)
        found = kind not in TYPE_WEIGHT
        dictionary = _dictionary_overlap(retrieval.query.text, cands) if cross else {}
        for p, v, a in zip(pool, cos, answerable):
            p.cosine = float(v)
            p.answerable = float(a)
            p.choice_bonus += DICTIONARY_WEIGHT * dictionary.get(id(p), 0.0)
            if kind in TYPE_WEIGHT:
                p.spans = type_spans(kind, p.text, question)
                if p.spans:
                    p.holds, p.typed, found = True, weight, True
                    if cross:
                        p.choice_bonus += CROSS_TYPE_WEIGHT.get(kind, 0.0)
        pool.sort(key=lambda x: -x.choice)
        return Scored(pool, kind, missing, share, found, named, cross, idf, hit_terms, title_terms)

    def _refusal(self, question: str, retrieval: Retrieval, lang: str, best: float, threshold: float,
                 scored: Scored | None = None) -> Answer:
        """Refuse in the question's language, saying what was not found (a word of the question no passage
        names, or no number/date where one was asked) and what the nearest passages do cover."""
        hits = retrieval.hits[: self.related]
        related = tuple(citation_for(i + 1, h, [(h.chunk.start, h.chunk.end)], h.score) for i, h in enumerate(hits))
        topics = [h.chunk.title.strip() or _opening(h.chunk.text) for h in hits]
        missing = (scored.named_missing or scored.missing) if scored else []
        kind = scored.kind if scored and not scored.kind_found else None
        texts = refusal_sentences(lang, missing=missing, kind=kind, topics=list(dict.fromkeys(topics)))
        meta = {"threshold": threshold}
        if scored:
            meta.update(kind=scored.kind, missing=missing)
        return Answer(question, tuple(AnswerSentence(t, ()) for t in texts), (), True, lang, self.name,
                      related=related, evidence=best, meta=meta)


def _dictionary_overlap(question: str, cands: list[_Candidate]) -> dict[int, float]:
    """For an English question over Arabic sentences: each candidate's IDF-weighted share (IDF over the
    candidates) of the question words' FreeDict translations it holds (rag.bilingual; {} without the
    dictionary). Only translations some candidate holds count, so a question word the dictionary renders
    badly costs nothing."""
    wanted = set(translated_terms(question))
    if not wanted:
        return {}
    df: dict[str, int] = {}
    for c in cands:
        for t in c.terms & wanted:
            df[t] = df.get(t, 0) + 1
    idf = {t: math.log(1 + len(cands) / (1 + n)) for t, n in df.items()}
    total = sum(idf.values())
    if total <= 0:
        return {}
    return {id(c): sum(idf[t] for t in c.terms & wanted) / total for c in cands}


def _opening(text: str, words: int = 8) -> str:
    """A passage's first words, for a passage without a title."""
    first = text.strip().split()
    return " ".join(first[:words]) + ("…" if len(first) > words else "")


def _words_of(text: str, terms: set[str]) -> list[str]:
    """The words of ``text`` (as written) whose keyword term is in ``terms``, in order, once each."""
    out: list[str] = []
    for word in text.split():
        w = word.strip("؟?!.,،؛;:\"'«»()[]")
        if w and set(keyword_terms(w)) & terms and w not in out:
            out.append(w)
    return out


def _dedupe(chosen: list[_Candidate]) -> list[_Candidate]:
    seen: set[str] = set()
    out = []
    for c in chosen:
        key = normalize(c.text)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out
