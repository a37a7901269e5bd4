"""``rag eval``: retrieval and answer quality on a SQuAD-format file, and the refusal calibration.

Each paragraph becomes an article; each question is asked against the index of all of them. Reported for
keyword-only, dense-only and hybrid retrieval in one run: Recall@1/5/10 and MRR@10 (the gold paragraph
among the hits); for the answerer: how often the answer contains the gold answer, citation precision (the
answer sentence holding the gold answer cites a passage that holds it) and the cited-passage precision
(share of all cited passages that hold it), and how often an answerable question was refused.

Calibration (``--calibrate``): the same questions are asked again with their own paragraph hidden, which
makes them unanswerable from the archive — hard negatives, since the rest of the same article stays. The
refusal threshold is the evidence score that best separates the two (max of true-answer rate + true-refusal
rate), lowered where needed so that no more than 10% of answerable questions are refused; it is computed
separately for questions in the passages' script and across scripts (English question, Arabic archive),
because keyword overlap cannot help the latter.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from index.arabic import normalize
from index.articles import Article
from index.embedders import Embedder
from index.update import article_id, update_index

from .answer.extractive import ExtractiveAnswerer, is_cross_script
from .retrieval import HybridRetriever, Query

MODES = ("keyword", "dense", "hybrid")


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    answers: tuple[str, ...]
    gold: str          # article id of the paragraph that answers it


def load_squad(path: Path, questions_from: Path | None = None) -> tuple[list[Article], list[EvalQuestion]]:
    """Paragraphs as articles (untitled: XQuAD-ar titles are English page names, not article text) and the
    questions; ``questions_from`` swaps in the parallel questions (same ids) of another language."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    other: dict[str, str] = {}
    if questions_from is not None:
        for art in json.loads(Path(questions_from).read_text(encoding="utf-8"))["data"]:
            for para in art["paragraphs"]:
                other.update({qa["id"]: qa["question"] for qa in para["qas"]})
    articles, questions = [], []
    for a, art in enumerate(data):
        for p, para in enumerate(art["paragraphs"]):
            article = Article(origin_id=f"squad:{a}:{p}", title="", text=para["context"].strip(), date=None,
                              source=art.get("title", "").replace("_", " ") or None, url=None,
                              path=str(Path(path).resolve()), position=len(articles))
            articles.append(article)
            for qa in para["qas"]:
                q = other.get(qa["id"], qa["question"]) if questions_from else qa["question"]
                questions.append(EvalQuestion(qa["id"], q, tuple(x["text"] for x in qa["answers"]),
                                              article_id(article)))
    return articles, questions


def build_index(root: Path, articles: list[Article], embedder: Embedder, spec: str) -> None:
    update_index(root, [], embedder, spec, prune_all=True, articles=articles)


def _contains(haystack: str, needles: Iterable[str]) -> bool:
    h = normalize(haystack)
    return any(normalize(n) in h for n in needles if n.strip())


def evaluate(retriever: HybridRetriever, answerer: ExtractiveAnswerer | None, questions: list[EvalQuestion],
             k_answer: int = 5, calibrate: bool = False,
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    ranks: dict[str, list[int | None]] = {m: [] for m in MODES}
    contained = cited_ok = cited_total = passages_ok = passages_total = refused = 0
    positives: list[float] = []
    negatives: list[float] = []
    cross = 0
    started = time.perf_counter()
    for n, q in enumerate(questions):
        qvec = retriever.embedder.embed_query(q.question)
        for mode in MODES:
            r = retriever.run(Query(q.question, k=10, mode=mode), qvec)
            rank = next((i for i, h in enumerate(r.hits)
                         if q.gold in {h.chunk.article_id, *(d.article_id for d in h.duplicates)}), None)
            ranks[mode].append(rank)
        if answerer is not None:
            r = retriever.run(Query(q.question, k=k_answer), qvec)
            cross += int(_is_cross(q.question, r))
            ans = answerer.answer(q.question, r)
            positives.append(ans.evidence)
            refused += int(ans.refused)
            if not ans.refused:
                contained += int(_contains(ans.text, q.answers))
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
        if progress:
            progress(n + 1, len(questions))
    total = len(questions)
    out: dict[str, Any] = {"questions": total, "seconds": round(time.perf_counter() - started, 1)}
    for mode in MODES:
        rs = ranks[mode]
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
    if calibrate:
        out["calibration"] = calibrate_threshold(positives, negatives)
    return out


def _is_cross(question: str, retrieval: Any) -> bool:
    return bool(retrieval.hits) and is_cross_script(question, retrieval.hits[0].chunk.text)


#: Refusing an answerable question costs the user as much as a wrong answer; never refuse more than this share.
MAX_FALSE_REFUSALS = 0.10


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
