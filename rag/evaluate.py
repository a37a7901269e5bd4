"""``rag eval``: retrieval and answer quality on SQuAD-format dev sets, and the refusal calibration.

Each paragraph becomes an article; each question is asked against the index of all of them. Reported for
keyword-only, dense-only and hybrid retrieval in one run: Recall@1/5/10 and MRR@10 (the gold paragraph
among the hits); for the answerer: how often the answer contains the gold answer, citation precision (the
answer sentence holding the gold answer cites a passage that holds it) and the cited-passage precision
(share of all cited passages that hold it), and how often an answerable question was refused.

Several dev sets are evaluated in one run (XQuAD-ar, ARCD, MLQA-ar, each with its parallel English questions
where there are some), because a change that helps one set and hurts another is not an improvement.
Titles: XQuAD's are English page names (kept out of the Arabic article); ARCD's and MLQA's are Arabic and
carry the topic, as a news archive's headlines do, so they become the articles' titles.

Distractors (``--distractors FILE --distractor-count N``): N news articles mixed into every set's index, as a
real archive would surround the answer. They are embedded once into a cached folder; each set's index is a
copy of it plus the set's paragraphs (incremental update: only the paragraphs are embedded).

Answer removal (``--remove-answer``): every paragraph also exists in a version without the sentences that hold
its questions' gold answers (the topic stays, the fact is gone), in an index of its own; each question asked
there must be refused. One index per set serves all questions at once, so a paragraph holding two questions'
answers loses both — acceptable: each question still sees its topic without its fact. A question counts only
if its normalized answer occurs nowhere in the set's remaining text. The per-question evidence scores (intact
and answer-removed, with the question's script kind) are in ``--json`` so thresholds can be calibrated from
them: :func:`tradeoff_curve` and :func:`choose_threshold`.

Calibration (``--calibrate``): the same questions are asked again with their own paragraph hidden, which
makes them unanswerable from the archive — hard negatives, since the rest of the same article stays. The
refusal threshold is the evidence score that best separates the two (max of true-answer rate + true-refusal
rate), lowered where needed so that no more than 10% of answerable questions are refused; it is computed
separately for questions in the passages' script and across scripts (English question, Arabic archive),
because keyword overlap cannot help the latter.
"""
from __future__ import annotations

import gzip
import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from index.arabic import normalize, script, split_sentences
from index.articles import Article, read_file
from index.embedders import Embedder
from index.store import exists
from index.update import article_id, update_index

from .answer.extractive import ExtractiveAnswerer, is_cross_script
from .retrieval import HybridRetriever, Query

MODES = ("keyword", "dense", "hybrid")


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    answers: tuple[str, ...]
    gold: str                            # article id of the paragraph that answers it
    starts: tuple[int, ...] = ()         # the answers' character offsets in that paragraph
    group: str = ""                      # the SQuAD article it belongs to (cross-validation folds by article)


@dataclass
class DevSet:
    """One SQuAD file: its paragraphs as articles and its question sets (native + parallel languages)."""

    name: str
    articles: list[Article]
    questions: dict[str, list[EvalQuestion]]     # run name (file name) → questions

    @property
    def stem(self) -> str:
        return self.name.split(".json")[0]


def _clean_question(text: str) -> str:
    """ARCD questions come as " - من هو …؟ ": the list dash and the padding are not part of the question."""
    return text.strip().lstrip("-–—•").strip()


def titles_are_article_text(data: list[dict[str, Any]]) -> bool:
    """Whether the SQuAD titles read as headlines of the paragraphs (ARCD, MLQA: Arabic) rather than page
    names in another language (XQuAD-ar: English ``Super_Bowl_50``)."""
    titles = [str(a.get("title", "")) for a in data if a.get("title")]
    return bool(titles) and sum(script(t) == "arabic" for t in titles) >= 0.8 * len(titles)


def load_squad(path: Path, questions_from: Path | None = None,
               titles: bool | None = None) -> tuple[list[Article], list[EvalQuestion]]:
    """Paragraphs as articles and the questions; ``questions_from`` swaps in the parallel questions (same ids)
    of another language. ``titles``: use the SQuAD titles as article titles (default: when they are Arabic,
    see :func:`titles_are_article_text`); otherwise articles are untitled and the title is the source."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    if titles is None:
        titles = titles_are_article_text(data)
    other: dict[str, str] = {}
    if questions_from is not None:
        for art in json.loads(Path(questions_from).read_text(encoding="utf-8"))["data"]:
            for para in art["paragraphs"]:
                other.update({qa["id"]: qa["question"] for qa in para["qas"]})
    stem = Path(path).name.split(".json")[0]
    articles, questions = [], []
    for a, art in enumerate(data):
        name = str(art.get("title", "")).replace("_", " ").strip()
        for p, para in enumerate(art["paragraphs"]):
            text = para["context"].strip()
            shift = len(para["context"]) - len(para["context"].lstrip())
            article = Article(origin_id=f"squad:{stem}:{a}:{p}", title=name if titles else "", text=text,
                              date=None, source=name or None, url=None, path=str(Path(path).resolve()),
                              position=len(articles))
            articles.append(article)
            aid = article_id(article)
            for qa in para["qas"]:
                if questions_from is not None and qa["id"] not in other:
                    continue
                q = _clean_question(other[qa["id"]] if questions_from is not None else qa["question"])
                if not q:
                    continue
                questions.append(EvalQuestion(
                    qa["id"], q, tuple(x["text"] for x in qa["answers"]), aid,
                    tuple(int(x.get("answer_start", -1)) - shift for x in qa["answers"]), f"{stem}:{a}"))
    return articles, questions


def load_dev_sets(files: Sequence[Path], questions_from: Sequence[Path] = ()) -> list[DevSet]:
    """Each SQuAD file with the parallel question files whose ids it shares (so ``--questions-from`` needs no
    pairing by hand: xquad.en.json goes with xquad.ar.json, mlqa-ar-q-en.json with mlqa-ar.json)."""
    sets: list[DevSet] = []
    for f in files:
        articles, native = load_squad(f)
        sets.append(DevSet(Path(f).name, articles, {Path(f).name: native}))
    for o in questions_from:
        ids = _question_ids(o)
        best = max(sets, key=lambda s: len(ids & {q.id for q in next(iter(s.questions.values()))}), default=None)
        if best is None or not ids & {q.id for q in next(iter(best.questions.values()))}:
            raise ValueError(f"{o}: none of its question ids occurs in "
                             + ", ".join(str(f) for f in files) + " (--questions-from needs a parallel file)")
        src = next(f for f in files if Path(f).name == best.name)
        best.questions[Path(o).name] = load_squad(src, questions_from=o)[1]
    return sets


def _question_ids(path: Path) -> set[str]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    return {qa["id"] for art in data for para in art["paragraphs"] for qa in para["qas"]}


def spread(questions: list[EvalQuestion], limit: int | None) -> list[EvalQuestion]:
    """An evenly spread, deterministic sample of ``limit`` questions (all when None or larger)."""
    if not limit or limit >= len(questions):
        return list(questions)
    step = len(questions) / limit
    return [questions[int(i * step)] for i in range(limit)]


# ------------------------------------------------------------------------------------------ answer removal --
@dataclass(frozen=True)
class RemovedSet:
    """The answer-removed version of a dev set: its articles and, per question id, whether the question's
    answer is really gone (its normalized text occurs nowhere in what is left)."""

    articles: list[Article]
    removed: dict[str, bool]
    sentences_removed: int


def _answer_span(text: str, answer: str, start: int) -> tuple[int, int] | None:
    if 0 <= start and text[start:start + len(answer)] == answer:
        return start, start + len(answer)
    found = text.find(answer)
    return (found, found + len(answer)) if found >= 0 and answer else None


def remove_answers(articles: list[Article], questions: Iterable[EvalQuestion]) -> RemovedSet:
    """Each paragraph without the sentences holding any of its questions' gold answers (topic kept, facts
    gone). A paragraph left empty is dropped. Questions whose answer still occurs in the remaining text of
    any paragraph are marked not removed (they are not unanswerable, so they say nothing about refusal)."""
    questions = list(questions)
    by_article: dict[str, list[EvalQuestion]] = {}
    for q in questions:
        by_article.setdefault(q.gold, []).append(q)
    out: list[Article] = []
    dropped = 0
    for art in articles:
        qs = by_article.get(article_id(art), [])
        spans = [sp for q in qs for ans, st in zip(q.answers, q.starts or (-1,) * len(q.answers))
                 if (sp := _answer_span(art.text, ans, st)) is not None]
        kept = []
        for s, e in split_sentences(art.text):
            if any(s < ae and as_ < e for as_, ae in spans):
                dropped += 1
            else:
                kept.append(art.text[s:e].strip())
        text = " ".join(k for k in kept if k)
        if text:
            out.append(replace(art, origin_id=art.origin_id + ":answer-removed", text=text))
    remaining = [normalize(a.text) for a in out]
    removed = {q.id: not any(normalize(ans) in r for ans in q.answers if ans.strip() for r in remaining)
               for q in questions}
    return RemovedSet(out, removed, dropped)


# ------------------------------------------------------------------------------------------------ indexes --
def build_index(root: Path, articles: list[Article], embedder: Embedder, spec: str,
                seed_from: Path | None = None, donors: Sequence[Path] = (),
                progress: Callable[[Any], None] | None = None) -> Path:
    """Make the index at ``root`` hold exactly ``articles`` (reused when it already does). A new index starts
    as a copy of ``seed_from`` when given, so the articles both share are not embedded again (removing the
    others costs nothing); passages already embedded in one of the ``donors`` (other evaluation indexes made
    with the same embedder) take their stored vectors instead of being embedded again."""
    if seed_from is not None and not exists(root) and exists(seed_from):
        if root.exists():
            shutil.rmtree(root)
        shutil.copytree(seed_from, root, ignore=shutil.ignore_patterns("write.lock", "*.tmp*"))
    source: Embedder = embedder
    if donors:
        source = _ReusingEmbedder(embedder, [d for d in donors if exists(d) and Path(d) != Path(root)])
    update_index(root, [], source, spec, prune_all=True, articles=articles, progress=progress)
    return root


class _ReusingEmbedder:
    """The embedder, except that passages stored in the donor indexes (same engine identity, so the same
    vector space) are taken from there. ``computed`` counts passages really embedded."""

    def __init__(self, inner: Embedder, donors: Sequence[Path]) -> None:
        self.inner, self.donors = inner, list(donors)
        self.identity, self.dim, self.max_tokens = inner.identity, inner.dim, inner.max_tokens
        self._known: dict[str, np.ndarray] | None = None
        self.computed = 0

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)

    def _load(self) -> dict[str, np.ndarray]:
        from index.chunking import embedding_text
        from index.store import stored_passages

        known: dict[str, np.ndarray] = {}
        for root in self.donors:
            for title, text, vec in stored_passages(root, self.identity):
                known.setdefault(embedding_text(title, text), vec)
        return known

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if self._known is None:
            self._known = self._load()
        missing = [t for t in dict.fromkeys(texts) if t not in self._known]
        if missing:
            self.computed += len(missing)
            for t, v in zip(missing, self.inner.embed_passages(missing)):
                self._known[t] = np.asarray(v, np.float32)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self._known[t] for t in texts])


def distractor_articles(path: Path, count: int, folder: Path) -> list[Article]:
    """The first ``count`` articles of a .jsonl / .jsonl.gz news file, read with the product's own reader
    (from a .jsonl copy of those lines kept in ``folder``, so origins stay stable between runs)."""
    if count < 1:
        raise ValueError(f"--distractor-count must be at least 1, got {count}")
    folder.mkdir(parents=True, exist_ok=True)
    subset = folder / f"distractors-{Path(path).name.split('.')[0]}-{count}.jsonl"
    if not subset.is_file():
        opener = gzip.open if str(path).endswith(".gz") else open
        lines: list[str] = []
        with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
            for line in fh:
                if line.strip():
                    lines.append(line.rstrip("\n"))
                if len(lines) >= count:
                    break
        tmp = subset.with_suffix(".part")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.rename(subset)
    items = list(read_file(subset))
    articles = [a for a in items if isinstance(a, Article)]
    if not articles:
        raise ValueError(f"{path}: no readable article among its first {count} lines")
    return articles


def load_query_vectors(path: Path, identity: str) -> dict[str, np.ndarray]:
    """Question vectors kept from earlier runs (an .npz beside the evaluation indexes; a different embedder
    identity starts afresh): embedding thousands of questions again costs minutes on 2 cores."""
    if not Path(path).is_file():
        return {}
    with np.load(path, allow_pickle=False) as data:
        if str(data["identity"]) != identity:
            return {}
        return dict(zip(json.loads(str(data["texts"])), data["vectors"]))


def save_query_vectors(path: Path, identity: str, vectors: dict[str, np.ndarray]) -> None:
    if not vectors:
        return
    texts = list(vectors)
    tmp = Path(path).with_suffix(".part.npz")
    np.savez(tmp, identity=np.array(identity), texts=np.array(json.dumps(texts, ensure_ascii=False)),
             vectors=np.vstack([vectors[t] for t in texts]).astype(np.float32))
    tmp.replace(path)


# --------------------------------------------------------------------------------------------- evaluation --
def evaluate(retriever: HybridRetriever, answerer: ExtractiveAnswerer | None, questions: list[EvalQuestion],
             k_answer: int = 5, calibrate: bool = False,
             progress: Callable[[int, int], None] | None = None, *,
             removed: tuple[HybridRetriever, dict[str, bool]] | None = None,
             query_vectors: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Aggregates over ``questions`` plus one record per question (``per_question``: ranks per mode, evidence,
    refusal, script kind; with ``removed`` = (retriever over the answer-removed index, question id → answer
    really gone) also the evidence and refusal there)."""
    vectors = {} if query_vectors is None else query_vectors
    records: list[dict[str, Any]] = []
    contained = cited_ok = cited_total = passages_ok = passages_total = refused = 0
    positives: list[float] = []
    negatives: list[float] = []
    cross = 0
    started = time.perf_counter()
    for n, q in enumerate(questions):
        qvec = vectors.get(q.question)
        if qvec is None:
            qvec = vectors[q.question] = retriever.embedder.embed_query(q.question)
        rec: dict[str, Any] = {"id": q.id, "group": q.group, "rank": {}}
        for mode in MODES:
            r = retriever.run(Query(q.question, k=10, mode=mode), qvec)
            rec["rank"][mode] = next((i for i, h in enumerate(r.hits)
                                      if q.gold in {h.chunk.article_id, *(d.article_id for d in h.duplicates)}),
                                     None)
        if answerer is not None:
            r = retriever.run(Query(q.question, k=k_answer), qvec)
            is_cross = _is_cross(q.question, r)
            cross += int(is_cross)
            ans = answerer.answer(q.question, r)
            positives.append(ans.evidence)
            refused += int(ans.refused)
            rec.update(script="cross" if is_cross else "same", evidence=round(float(ans.evidence), 4),
                       refused=bool(ans.refused), contains_gold=False)
            if not ans.refused:
                rec["contains_gold"] = _contains(ans.text, q.answers)
                contained += int(rec["contains_gold"])
                by_number = {c.number: c for c in ans.citations}
                for s in ans.sentences:
                    if _contains(s.text, q.answers):
                        cited_total += 1
                        cited_ok += int(any(_contains(by_number[c].passage, q.answers) for c in s.citations))
                for c in ans.citations:
                    passages_total += 1
                    passages_ok += int(_contains(c.passage, q.answers))
            if calibrate:
                hidden = retriever.run(Query(q.question, k=k_answer, exclude_articles=(q.gold,)), qvec)
                negatives.append(answerer.answer(q.question, hidden).evidence)
                rec["evidence_hidden"] = round(float(negatives[-1]), 4)
            if removed is not None and removed[1].get(q.id):
                gone = answerer.answer(q.question, removed[0].run(Query(q.question, k=k_answer), qvec))
                rec.update(evidence_removed=round(float(gone.evidence), 4), refused_removed=bool(gone.refused))
        records.append(rec)
        if progress:
            progress(n + 1, len(questions))
    total = len(questions)
    out: dict[str, Any] = {"questions": total, "seconds": round(time.perf_counter() - started, 1)}
    for mode in MODES:
        rs = [rec["rank"][mode] for rec in records]
        out[mode] = {
            "R@1": _share(sum(1 for r in rs if r is not None and r < 1), total),
            "R@5": _share(sum(1 for r in rs if r is not None and r < 5), total),
            "R@10": _share(sum(1 for r in rs if r is not None and r < 10), total),
            "MRR@10": round(sum(1.0 / (r + 1) for r in rs if r is not None) / max(total, 1), 4),
        }
    if answerer is not None:
        out["answer"] = {
            "contains_gold": _share(contained, total),
            "contains_gold_when_answered": _share(contained, total - refused),
            "citation_precision": _share(cited_ok, cited_total),
            "cited_passage_precision": _share(passages_ok, passages_total),
            "refused_answerable": _share(refused, total),
            "cross_script_questions": cross,
            "thresholds": answerer.thresholds,
        }
        if removed is not None:
            out["answer_removed"] = removal_summary(records)
    if calibrate:
        out["calibration"] = calibrate_threshold(positives, negatives)
    out["per_question"] = records
    return out


def removal_summary(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Refusal of answer-removed vs intact questions, and per script kind the threshold that refuses the most
    answer-removed questions while refusing at most MAX_FALSE_REFUSALS of the answerable ones."""
    gone = [r for r in records if "evidence_removed" in r]
    out: dict[str, Any] = {
        "questions": len(gone),
        "refused_removed": _share(sum(r["refused_removed"] for r in gone), len(gone)),
        "refused_intact": _share(sum(r["refused"] for r in gone), len(gone)),
        "refused_intact_all": _share(sum(r.get("refused", False) for r in records), len(records)),
        "by_script": {},
    }
    for kind in ("same", "cross"):
        pos = [r["evidence"] for r in records if r.get("script") == kind]
        neg = [r["evidence_removed"] for r in gone if r.get("script") == kind]
        if pos and neg:
            out["by_script"][kind] = {**choose_threshold(pos, neg),
                                      "curve": tradeoff_curve(pos, neg, (0.0, 0.02, 0.05, 0.10, 0.15, 0.20, 0.30))}
    return out


def _is_cross(question: str, retrieval: Any) -> bool:
    return bool(retrieval.hits) and is_cross_script(question, retrieval.hits[0].chunk.text)


def _contains(haystack: str, needles: Iterable[str]) -> bool:
    h = normalize(haystack)
    return any(normalize(n) in h for n in needles if n.strip())


#: Refusing an answerable question costs the user as much as a wrong answer; never refuse more than this share.
MAX_FALSE_REFUSALS = 0.10


def tradeoff_curve(answerable: Sequence[float], unanswerable: Sequence[float],
                   at_refused_answerable: Sequence[float] | None = None) -> list[dict[str, float]]:
    """Refusal rates of both kinds for a range of thresholds (a question is refused when its evidence is
    below the threshold). With ``at_refused_answerable`` (shares, e.g. 0.05, 0.10): one point per share, the
    highest threshold refusing at most that share of answerable questions; otherwise every distinct score."""
    pos, neg = np.sort(np.asarray(answerable, float)), np.asarray(unanswerable, float)
    if not len(pos) or not len(neg):
        return []
    if at_refused_answerable is None:
        thresholds = np.unique(np.concatenate([pos, neg]))
    else:
        thresholds = np.array([_highest_threshold(pos, share) for share in at_refused_answerable])
    return [{"threshold": round(float(t), 4), "refused_answerable": _share(int((pos < t).sum()), len(pos)),
             "refused_unanswerable": _share(int((neg < t).sum()), len(neg))} for t in thresholds]


def _highest_threshold(sorted_pos: np.ndarray, share: float) -> float:
    """The highest threshold under which at most ``share`` of the (sorted) answerable scores fall."""
    allowed = int(np.floor(share * len(sorted_pos) + 1e-9))
    return float(sorted_pos[allowed]) if allowed < len(sorted_pos) else float(sorted_pos[-1]) + 1e-6


def choose_threshold(answerable: Sequence[float], unanswerable: Sequence[float],
                     max_refused_answerable: float = MAX_FALSE_REFUSALS) -> dict[str, Any]:
    """The threshold refusing the most unanswerable questions while refusing at most
    ``max_refused_answerable`` of the answerable ones (refusal of unanswerable ones only grows with the
    threshold, so it is the highest threshold within that budget), with both rates."""
    if not 0 <= max_refused_answerable < 1:
        raise ValueError(f"max_refused_answerable must be in [0, 1), got {max_refused_answerable}")
    pos, neg = np.sort(np.asarray(answerable, float)), np.asarray(unanswerable, float)
    if not len(pos) or not len(neg):
        raise ValueError("choose_threshold needs answerable and unanswerable scores")
    t = _highest_threshold(pos, max_refused_answerable)
    return {"threshold": round(t, 4), "max_refused_answerable": max_refused_answerable,
            "refused_answerable": _share(int((pos < t).sum()), len(pos)),
            "refused_unanswerable": _share(int((neg < t).sum()), len(neg)),
            "answerable": len(pos), "unanswerable": len(neg)}


def calibrate_threshold(positives: list[float], negatives: list[float]) -> dict[str, Any]:
    """The threshold maximizing (answered | answerable) + (refused | unanswerable) (Youden's J), lowered if
    needed so that at most MAX_FALSE_REFUSALS of answerable questions are refused; both rates reported."""
    pos, neg = np.asarray(positives), np.asarray(negatives)
    if not len(pos) or not len(neg):
        return {}
    candidates = np.unique(np.concatenate([pos, neg]))
    best_t, best_j = float(candidates[0]), -1.0
    for t in candidates:
        j = float((pos >= t).mean() + (neg < t).mean())
        if j > best_j:
            best_t, best_j = float(t), j
    cap = float(np.quantile(pos, MAX_FALSE_REFUSALS))
    chosen = min(best_t, cap)
    return {"threshold": round(chosen, 4), "youden_threshold": round(best_t, 4),
            "rule": f"min(Youden's J optimum, {MAX_FALSE_REFUSALS:.0%} quantile of answerable evidence)",
            "answered_when_answerable": _share(int((pos >= chosen).sum()), len(pos)),
            "refused_when_unanswerable": _share(int((neg < chosen).sum()), len(neg)),
            "positives": len(pos), "negatives": len(neg),
            "pos_median": round(float(np.median(pos)), 4), "neg_median": round(float(np.median(neg)), 4)}


def _share(n: int, total: int) -> float:
    return round(n / total, 4) if total else 0.0


def table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown table: one row per (run, mode)."""
    lines = ["| questions | retrieval | R@1 | R@5 | R@10 | MRR@10 | answer ⊇ gold (all / answered) | "
             "citation precision | cited-passage precision | refused (answerable) |", "|" + "---|" * 10]
    for name, res in results.items():
        for mode in MODES:
            m = res[mode]
            a = res.get("answer", {}) if mode == "hybrid" else {}
            lines.append(f"| {name} | {mode} | {m['R@1']:.3f} | {m['R@5']:.3f} | {m['R@10']:.3f} | {m['MRR@10']:.3f} | "
                         + (f"{a['contains_gold']:.3f} / {a['contains_gold_when_answered']:.3f} | "
                            f"{a['citation_precision']:.3f} | "
                            f"{a['cited_passage_precision']:.3f} | {a['refused_answerable']:.3f} |" if a else
                            "– | – | – | – |"))
    return "\n".join(lines)


def removal_table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown table of the answer-removal measurement: refusal today and at the per-script threshold that
    refuses at most MAX_FALSE_REFUSALS of answerable questions."""
    lines = ["| questions | answer-removed questions | refused (removed) | refused (same questions intact) | "
             "threshold at ≤10 % answerable refused: script, threshold, refused (removed) |", "|" + "---|" * 5]
    for name, res in results.items():
        r = res.get("answer_removed")
        if not r:
            continue
        best = "; ".join(f"{k} {v['threshold']:.3f} → {v['refused_unanswerable']:.3f}"
                         for k, v in r["by_script"].items()) or "–"
        lines.append(f"| {name} | {r['questions']} | {r['refused_removed']:.3f} | {r['refused_intact']:.3f} | {best} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def write_calibration(same: dict[str, Any], cross: dict[str, Any], command: str) -> Path:
    """Store the thresholds with how they were measured, next to the code that reads them."""
    from importlib import resources

    path = Path(str(resources.files("rag").joinpath("resources/calibration.json")))
    data = {"extractive": {
        "same": {**same, "what": "question in the passages' script"},
        "cross": {**cross, "what": "question in another script than the passages (e.g. English over Arabic)"},
    }, "command": command, "measured": time.strftime("%Y-%m-%d")}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
