"""What the citation check can honestly say about one LLM sentence and its passage: a label and the evidence.

Why labels and not a yes/no: the support score (cosine + keyword recall, :mod:`rag.answer.citations`) says
whether a sentence is *about* its passage. It cannot see a misspelt name ("Dmytro Byskof" for دميتري بيسكوف)
or a claim the passage does not make, least of all across scripts, where an English sentence shares no words
with the Arabic passage. So each sentence gets the strongest label its checks reach:

- ``quoted``: same script, and its content words are in one evidence sentence (:data:`QUOTE_RECALL`);
- ``supported``: above the calibrated support threshold, every number and every name found in the passage;
  across scripts only when all of them are matched — names through the Arabic original the prompt asks for
  ("Dmitry Peskov (دميتري بيسكوف)"), found in the passage — and at least one is not already in the question;
- ``related``: above the threshold, but across scripts without matched names and numbers, or with a name
  that could not be matched (a spelling the passage does not have): about the passage, not confirmed;
- ``unsupported`` (flagged): below the threshold, or a number or name the passage certainly does not have
  (an Arabic original absent from the passage; a latin name none of whose words an English passage has).

Names in English sentences are runs of capitalised words (function words, months and weekdays left out);
a name glossed once ("Peskov (بيسكوف)") stays glossed for the rest of the answer ("Peskov said …"). Arabic
sentences have no capitals to find names by: there the numbers, the score and the quote test decide.

The evidence is the passage's best-supporting sentence, with the next one when it scores within
:data:`EVIDENCE_MARGIN`, and any sentence that holds a name or number of the claim the others lack, so that
everything the label rests on is in what the reader sees.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from index.arabic import keyword_terms, language, normalize, tokenize

from .base import QUOTED, RELATED, SUPPORTED, UNSUPPORTED

#: Share of a same-script sentence's content words (``keyword_terms``) that must be in its evidence for
#: ``quoted``: a sentence copied from the passage with a word changed or dropped ("said" → "stated") still is.
QUOTE_RECALL = 0.85
#: A second passage sentence is shown as evidence when it scores within this of the best one.
EVIDENCE_MARGIN = 0.03
#: At most this many evidence sentences per cited passage.
MAX_EVIDENCE = 3
#: Order of strength, strongest first (used to pick among cited passages).
RANK = {QUOTED: 0, SUPPORTED: 1, RELATED: 2, UNSUPPORTED: 3}

_AR = "\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff"
_GLOSS = re.compile(r"\(([^()]*[" + _AR + r"][^()]*)\)")
_AR_RUN = re.compile(r"[" + _AR + r"][" + _AR + r"\s\-ـ]*")
_CAP = r"[A-Z\u00c0-\u00de][A-Za-z\u00c0-\u024f'’\-]*"
_PARTICLE = r"(?:al|el|ad|as|ash|at|bin|ibn|abu|bint|de|del|da|di|van|von|der|du|la|le)"
_NAME_RUN = re.compile(r"(?<![\w'’\-])(?:" + _PARTICLE + r"[-\s])?" + _CAP
                       + r"(?:\s+(?:" + _PARTICLE + r"[-\s])?" + _CAP + r")*")
#: Capitalised words that are not names: sentence openers, pronouns, months, weekdays.
_NOT_NAMES = set("""
a an the this that these those there here it its he she they we i you his her their our my your one some
in on at of for from to by with as after before during while when where if but and or so also however
meanwhile moreover according yes no not all both each every many most other such than then thus according
what who whom whose which why how mr mrs ms dr
january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday
""".split())
#: Titles before a name ("Governor Ron DeSantis"): not part of the name to match.
_TITLES = set("""
president vice prime minister foreign defence defense interior finance secretary general governor mayor
king queen prince princess sheikh emir sultan ambassador envoy senator chancellor spokesman spokeswoman
spokesperson chief commander colonel lieutenant sergeant captain judge justice pope saint sir lord lady
""".split())
_PREFIXES = ("", "و", "ب", "ل", "ف", "ك", "ال", "وال", "بال", "لل", "فال", "كال", "ولل", "وب", "ول")


def _name_tokens(name: str) -> list[str]:
    return [t for t in tokenize(re.sub(r"['’]s\b", "", name).lower()) if t]


@dataclass
class NameBook:
    """The names an answer has glossed so far: latin name (and each of its words) → Arabic original."""

    glosses: dict[str, str] = field(default_factory=dict)

    def learn(self, latin: str, arabic: str) -> None:
        self.glosses.setdefault(latin.lower(), arabic)
        for t in _name_tokens(latin):
            if len(t) >= 3 and t not in _NOT_NAMES:
                self.glosses.setdefault(t, arabic)

    def lookup(self, latin: str) -> str | None:
        key = latin.lower()
        if key in self.glosses:
            return self.glosses[key]
        found = [self.glosses[t] for t in _name_tokens(latin) if t in self.glosses]
        return found[0] if found else None


@dataclass(frozen=True)
class ClaimNames:
    """The names one sentence states: ``arabic`` the originals it gives in parentheses, ``latin`` its latin
    names as (name, Arabic original known for it or None)."""

    arabic: tuple[str, ...]
    latin: tuple[tuple[str, str | None], ...]
    plain: str          # the sentence without its parenthesised Arabic originals


def _strip_common(run: str) -> str:
    words = run.split()
    while words and (words[0].lower() in _NOT_NAMES or words[0].lower() in _TITLES):
        words.pop(0)
    words = [w for w in words if w.lower() not in _NOT_NAMES or w.isupper() and len(w) > 1]
    return " ".join(words).strip("-'’ ")


def capitalised_inside(sentences: Sequence[str]) -> set[str]:
    """Words the answer capitalises somewhere other than at a sentence's start: those are names wherever
    they stand. A capitalised word that only ever opens a sentence ("Talks advanced") is taken for an
    ordinary word, unless it is glossed or all capitals."""
    out: set[str] = set()
    for s in sentences:
        plain = _GLOSS.sub(" ", s).lstrip(" \"'“‘«(")
        for m in re.finditer(_CAP, plain):
            if m.start() > 0:
                out.add(m.group(0).lower())
    return out


def claim_names(sentence: str, book: NameBook, capitalised: set[str] | None = None) -> ClaimNames:
    """Read the names of ``sentence``; glosses it gives are added to ``book`` for the sentences after it.
    ``capitalised``: see :func:`capitalised_inside` (None: every capitalised run is a name)."""
    arabic: list[str] = []
    for m in _GLOSS.finditer(sentence):
        originals = [r.strip(" -ـ") for r in _AR_RUN.findall(m.group(1)) if r.strip(" -ـ")]
        arabic.extend(originals)
        before = sentence[: m.start()].rstrip()
        run = next((r for r in _NAME_RUN.finditer(before) if r.end() == len(before)), None)
        if run and originals:
            name = _strip_common(run.group(0))
            if name:
                book.learn(name, originals[0])
    plain = " ".join(_GLOSS.sub(" ", sentence).split())
    latin: list[tuple[str, str | None]] = []
    lead = len(plain) - len(plain.lstrip(" \"'“‘«("))
    for r in _NAME_RUN.finditer(plain):
        name = _strip_common(r.group(0))
        opener = r.start() == lead and name == r.group(0) and " " not in name
        if opener and capitalised is not None and not name.isupper() and name.lower() not in capitalised \
                and book.lookup(name) is None:
            continue
        if name and any(c.isalpha() for c in name):
            latin.append((name, book.lookup(name)))
    return ClaimNames(tuple(dict.fromkeys(arabic)), tuple(dict.fromkeys(latin)), plain)


def arabic_name_in(name: str, passage_tokens: set[str]) -> bool:
    """Every word of the Arabic ``name`` occurs in the passage (normalized; a clitic prefix such as و/ب/ال
    attached to the passage's word is allowed: "وبيسكوف" holds "بيسكوف")."""
    words = [w for w in tokenize(normalize(name)) if len(w) >= 2]
    if not words:
        return True
    for w in words:
        bare = w[2:] if w.startswith("ال") and len(w) > 4 else w
        if not any(p + v in passage_tokens for p in _PREFIXES for v in {w, bare}):
            return False
    return True


@dataclass(frozen=True)
class Verdict:
    label: str
    evidence: tuple[tuple[tuple[int, int], float], ...]   # (span in the passage, score), best first
    reason: str = ""          # what kept it from a stronger label: number, name, score, script, unmatched


def judge(claim: ClaimNames, sentence: str, passage: str, title: str, score: float, threshold: float,
          numbers_ok: bool, ranked: Sequence[tuple[tuple[int, int], float]],
          question: str = "") -> Verdict:
    """The label of ``sentence`` against one passage, from its support ``score`` (and the passage sentences
    ``ranked`` by their own support, best first) and the checks of names, numbers and words. Across scripts,
    a name or number the ``question`` already states is no anchor: the passage was retrieved for it, so
    finding it there says nothing about the claim ("DNA is used in gene therapy" over a passage on DNA)."""
    from .citations import number_terms  # here, not at import: citations imports this module

    same = language(claim.plain) == language(passage)
    p_norm = normalize(passage + "\n" + title)
    p_tokens = set(tokenize(p_norm))
    p_lower = set(tokenize(p_norm.lower()))
    numbers = number_terms(claim.plain)
    # What each name needs found, as passage words: Arabic originals (given here or earlier in the answer)
    # or, in a latin passage, the latin name's own words.
    missing_arabic = [a for a in claim.arabic if not arabic_name_in(a, p_tokens)]
    missing_arabic += [a for n, a in claim.latin if a and a not in claim.arabic and not arabic_name_in(a, p_tokens)]
    unmatched, absent = [], []
    for name, original in claim.latin:
        if original:
            continue
        words = _name_tokens(name)
        found = [w for w in words if w in p_lower]
        if words and len(found) == len(words):
            continue          # the latin name is in the passage itself
        unmatched.append(name)
        if same and not found:
            absent.append(name)
    evidence = _evidence(passage, ranked, claim, numbers)
    if not numbers_ok:
        return Verdict(UNSUPPORTED, evidence, "number")
    if missing_arabic or absent:
        return Verdict(UNSUPPORTED, evidence, "name")
    if score < threshold:
        return Verdict(UNSUPPORTED, evidence, "score")
    if unmatched:
        return Verdict(RELATED, evidence, "unmatched")
    if not same:
        asked = set(tokenize(normalize(question).lower()))
        glossed = {o for _, o in claim.latin if o}
        anchors = [*numbers, *(a for a in claim.arabic if a not in glossed), *(n for n, _ in claim.latin)]
        anchors = [a for a in anchors if not set(tokenize(normalize(a).lower())) <= asked]
        return Verdict(SUPPORTED if anchors else RELATED, evidence, "" if anchors else "script")
    # Quoted: one evidence sentence holds the claim's words (a claim stitched from two sentences is not a
    # quote of either, and is where a small model's errors hide: "the defense registered the most sacks").
    terms = set(keyword_terms(claim.plain))
    recall = max((len(terms & set(keyword_terms(passage[a:b]))) / len(terms) for (a, b), _ in evidence),
                 default=0.0) if terms else 0.0
    if recall >= QUOTE_RECALL:
        return Verdict(QUOTED, evidence)
    return Verdict(SUPPORTED, evidence)


def _evidence(passage: str, ranked: Sequence[tuple[tuple[int, int], float]], claim: ClaimNames,
              numbers: set[str]) -> tuple[tuple[tuple[int, int], float], ...]:
    """The best sentence, a close second, and the best sentence holding each name or number the chosen ones
    lack (so the reader sees where the passage states it)."""
    from .citations import number_terms

    if not ranked:
        return ()
    best = ranked[0][1]
    chosen = [ranked[0]] + [r for r in ranked[1:2] if r[1] >= best - EVIDENCE_MARGIN]
    anchors: list[tuple[str, str]] = [("number", n) for n in sorted(numbers)]
    anchors += [("arabic", a) for a in claim.arabic]
    anchors += [("latin", n) for n, a in claim.latin if not a]

    def holds(span: tuple[int, int], kind: str, value: str) -> bool:
        text = passage[span[0]: span[1]]
        if kind == "number":
            return value in number_terms(text)
        if kind == "arabic":
            return arabic_name_in(value, set(tokenize(normalize(text))))
        return all(w in set(tokenize(normalize(text).lower())) for w in _name_tokens(value))

    for kind, value in anchors:
        if len(chosen) >= MAX_EVIDENCE:
            break
        if any(holds(span, kind, value) for span, _ in chosen):
            continue
        extra = next((r for r in ranked if holds(r[0], kind, value)), None)
        if extra is not None and extra not in chosen:
            chosen.append(extra)
    return tuple(chosen)
