"""Shared tools for the robustness tests: a generated Arabic corpus, bounded subprocesses of the real
``rag`` command, and a full inspection of an index (SQLite rows, FTS rows, keyword postings, FAISS vectors as
served)."""
from __future__ import annotations

import json
import os
import sqlite3
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from click.testing import CliRunner

from index import postings as kw
from index.store import Store
from index.vectors import VectorIndex
from rag.cli import main

ROOT = Path(__file__).resolve().parents[2]
SEED_QUESTION = "من هي السفيرة الأمريكية لدى الأمم المتحدة؟"

# ------------------------------------------------------------------------------------------ corpus ---
_CITIES = ["القاهرة", "الإسكندرية", "طنطا", "أسوان", "بغداد", "البصرة", "الموصل", "عمان", "إربد", "بيروت",
           "صيدا", "دمشق", "حلب", "تونس", "صفاقس", "الرباط", "فاس", "وهران", "الرياض", "جدة", "الدوحة",
           "مسقط", "الكويت", "المنامة", "الخرطوم", "طرابلس", "نواكشوط", "غزة", "الزرقاء", "أغادير"]
# (title, sentences, question): {city}, {n} (unique per article) and {m} are filled in.
_TEMPLATES = [
    ("افتتاح جسر جديد في {city}",
     ["افتتحت بلدية {city} جسرا جديدا بتكلفة {n} ألف دينار.", "وقال رئيس البلدية إن الجسر يخدم {m} أسرة."],
     "ما الذي افتتحته البلدية بتكلفة {n} ألف دينار؟"),
    ("حملة تشجير واسعة في {city}",
     ["زرع متطوعون {n} شجرة في حدائق {city} يوم الجمعة.", "وشارك في الحملة {m} طالبا من المدارس.",
      "وتعهدت البلدية بري الأشجار طوال الصيف."],
     "كم طالبا شارك في زرع {n} شجرة؟"),
    ("معرض للكتاب في {city}",
     ["افتتح معرض {city} للكتاب بمشاركة {n} دار نشر.", "ويستمر المعرض عشرة أيام ويستقبل {m} زائر يوميا."],
     "كم زائرا يستقبل المعرض الذي تشارك فيه {n} دار نشر؟"),
    ("ارتفاع إنتاج القمح في {city}",
     ["أعلنت مديرية الزراعة في {city} أن إنتاج القمح بلغ {n} طن هذا الموسم.",
      "وعزت المديرية الزيادة إلى أمطار الشتاء الغزيرة."],
     "كم بلغ إنتاج القمح الذي وصل إلى {n} طن؟"),
    ("مستشفى جديد يفتح أبوابه في {city}",
     ["استقبل مستشفى {city} الجديد أول مرضاه وفيه {n} سرير.", "وقال مدير المستشفى إن الطاقم يضم {m} طبيبا.",
      "وتبرع رجال أعمال بأجهزة الأشعة."],
     "كم طبيبا في المستشفى الذي فيه {n} سرير؟"),
    ("مهرجان للتراث الشعبي في {city}",
     ["انطلق مهرجان التراث في {city} بمشاركة {n} فنانا.", "وتضمن المهرجان عروضا للأزياء التقليدية."],
     "ما المهرجان الذي شارك فيه {n} فنانا؟"),
]


_PREFIXES = "cslrwkqz"  # each prefix is its own range of unique numbers


@dataclass(frozen=True)
class Story:
    key: str          # file stem
    title: str
    body: str
    question: str
    marker: str       # the article's unique number, also in its question

    def file_text(self) -> str:
        return f"{self.title}\n{self.body}\n"


def story(i: int, prefix: str = "c", variant: int = 0) -> Story:
    """The i-th generated article (2–3 short sentences); ``variant`` changes its text (an edit)."""
    t_title, sentences, question = _TEMPLATES[i % len(_TEMPLATES)]
    city = _CITIES[(i // len(_TEMPLATES) + i) % len(_CITIES)]
    n = str(1000 + 100000 * _PREFIXES.index(prefix) + 37 * i + 11 * variant)
    fill = {"city": city, "n": n, "m": str(20 + (i * 13) % 300)}
    body = " ".join(s.format(**fill) for s in sentences)
    if variant:
        body += " وأكدت البلدية تعديل الأرقام بعد المراجعة."
    return Story(f"{prefix}{i:03d}", t_title.format(**fill) + f" ({n})", body, question.format(**fill), n)


def write_stories(folder: Path, stories: list[Story]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for s in stories:
        (folder / f"{s.key}.txt").write_text(s.file_text(), encoding="utf-8")


# ----------------------------------------------------------------------------------- running `rag` ---
def messages(stderr: str) -> list[str]:
    """stderr without the progress lines a build/update prints when stderr is not a terminal
    (rag/progress.py: "indexing: 3/12 articles …"), i.e. the lines that report problems."""
    return [line for line in stderr.strip().splitlines() if not line.startswith("indexing: ")]


def rag_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a child ``rag``: no RAG_* settings or config file from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["XDG_CONFIG_HOME"] = str(tmp / "no-config")
    env["RAG_CONFIG"] = str(tmp / "no-config" / "none.toml")
    env.update(extra)
    return env


def index_flags(index: Any) -> list[str]:
    """The ``rag`` flags naming ``index``: an index folder, or a tests.backends.IndexUnderTest (any backend)."""
    return index.flags() if hasattr(index, "flags") else ["--index", str(index)]


def rag_cmd(index: Any, *args: Any) -> list[str]:
    return [sys.executable, "-m", "rag.cli", *index_flags(index), *map(str, args)]


def run_rag(index: Path, *args: Any, tmp: Path, timeout: float = 240, **env: str) -> subprocess.CompletedProcess:
    """``rag`` as a child process, bounded: killed (and the test failed) if it runs past ``timeout``."""
    tmp.mkdir(parents=True, exist_ok=True)
    return subprocess.run(rag_cmd(index, *args), cwd=tmp, env=rag_env(tmp, **env), check=False,
                          capture_output=True, text=True, timeout=timeout)


class Children:
    """Background ``rag`` processes of one test; whatever is still running at the end is killed."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, index: Path, *args: Any, tmp: Path, **env: str) -> subprocess.Popen:
        tmp.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(rag_cmd(index, *args), cwd=tmp, env=rag_env(tmp, **env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.procs.append(proc)
        return proc

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.communicate(timeout=30)
            except (subprocess.TimeoutExpired, ValueError):
                pass


def run_measured(cmd: list[str], tmp: Path, env: dict[str, str], timeout: float = 240) -> tuple[int, str, str, int]:
    """Run a child and return (exit code, stdout, stderr, its own peak RSS in bytes) via wait4."""
    out, err = tmp / "child.out", tmp / "child.err"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=fo, stderr=fe)
    timer = threading.Timer(timeout, lambda: os.kill(proc.pid, signal.SIGKILL))
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return (proc.returncode, out.read_text(encoding="utf-8"), err.read_text(encoding="utf-8"),
            usage.ru_maxrss * 1024)


def cli(index: Path, *args: Any):
    """The CLI in-process; fails the test on an uncaught exception (a traceback the user would see)."""
    result = CliRunner().invoke(main, [*index_flags(index), *map(str, args)], catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        raise AssertionError("rag crashed with a traceback:\n" + "".join(
            traceback.format_exception(result.exception)) + f"\nstderr: {result.stderr}")
    return result


def ask_json(index: Path, question: str, *extra: Any) -> dict:
    result = cli(index, "ask", question, "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# ---------------------------------------------------------------------------------- inspecting ---
@dataclass
class IndexState:
    generation: int
    articles: set[str]
    chunks: dict[tuple[str, int], tuple[int, int]]        # (article id, ordinal) → (start, end)
    fts: dict[tuple[str, int], tuple[str, str]]           # → (title terms, body terms)
    vectors: dict[tuple[str, int], np.ndarray]            # → the vector FAISS serves
    ids: dict[tuple[str, int], int]                       # → chunk id
    postings: dict[str, dict[tuple[str, int], float]]     # term → {chunk key: weighted tf}
    lengths: dict[tuple[str, int], int]                   # → chunk length in FTS5 tokens

    @property
    def chunk_ids(self) -> set[int]:
        return set(self.ids.values())


def vector_file(root: Path, generation: int) -> Path:
    return Path(root) / f"vectors-{generation:08d}.faiss"


def stored_postings(conn: sqlite3.Connection) -> tuple[dict[str, dict[int, float]], dict[int, int]]:
    """The keyword postings (term → {chunk id: weighted tf}) and chunk lengths as the catalog stores them."""
    terms = {}
    for term, ids, tfs in conn.execute("SELECT term, ids, tfs FROM postings"):
        i, f = kw.decode(ids, tfs)
        assert np.all(np.diff(i) > 0), f"postings of {term!r} not strictly ascending"
        terms[term] = dict(zip(i.tolist(), f.tolist()))
    return terms, dict(conn.execute("SELECT id, length FROM chunk_lengths"))


def expected_postings(conn: sqlite3.Connection) -> tuple[dict[str, dict[int, float]], dict[int, int]]:
    """What the postings must be, derived here from ``chunks_fts``: terms counted from its title and body
    columns (title 0.5, body 1.0), lengths as FTS5's own token count per row (its fts5vocab instance table)."""
    terms: dict[str, dict[int, float]] = {}
    for rowid, title, body in conn.execute("SELECT rowid, title, body FROM chunks_fts"):
        weighted = Counter({t: 0.5 * n for t, n in Counter(title.split()).items()})
        weighted.update(Counter(body.split()))
        for t, f in weighted.items():
            terms.setdefault(t, {})[rowid] = f
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_instances USING fts5vocab(main, chunks_fts, instance)")
    lengths = dict(conn.execute("SELECT doc, count(*) FROM temp.fts_instances GROUP BY doc"))
    lengths.update({r[0]: 0 for r in conn.execute("SELECT rowid FROM chunks_fts") if r[0] not in lengths})
    return terms, lengths


def inspect(root: Any) -> IndexState:
    """Everything an index holds, after checking it is one consistent generation: the same chunk ids in
    SQLite ``chunks``, ``chunks_fts`` and FAISS, every served vector equal to its stored blob, and the keyword
    postings and chunk lengths complete and equal to the terms of the chunks in ``chunks_fts``. Another
    backend's index (tests.backends.IndexUnderTest) inspects itself."""
    if not isinstance(root, (str, Path)):
        return root.inspect()
    store = Store(root)
    try:
        with store.snapshot() as snap:
            c = snap.conn
            rows = c.execute("SELECT id, article_id, ordinal, start, end, vector FROM chunks ORDER BY id").fetchall()
            fts = {r[0]: (r[1], r[2]) for r in c.execute("SELECT rowid, title, body FROM chunks_fts")}
            faiss_ids = sorted(snap.vectors.ids().tolist())
            sql_ids = [r[0] for r in rows]
            assert sql_ids == sorted(fts) == faiss_ids, "SQLite chunks, FTS rows and FAISS ids differ"
            assert snap.vectors.dim == snap.info.dim
            vectors, ids, chunks, terms = {}, {}, {}, {}
            for cid, aid, ordinal, start, end, blob in rows:
                served = snap.vector(cid)
                assert np.array_equal(served, np.frombuffer(blob, np.float32)), f"chunk {cid}: mixed vectors"
                key = (aid, ordinal)
                vectors[key], ids[key], chunks[key], terms[key] = served, cid, (start, end), fts[cid]
            articles = {r[0] for r in c.execute("SELECT id FROM articles")}
            assert {k[0] for k in chunks} <= articles, "chunks of a missing article"
            generation = snap.info.generation
            assert snap.collection is not None, "the index has no complete keyword postings"
            got_postings, got_lengths = stored_postings(c)
            want_postings, want_lengths = expected_postings(c)
            assert got_lengths == want_lengths, "chunk lengths differ from the chunks' FTS5 token counts"
            assert got_postings == want_postings, "keyword postings differ from the chunks' terms"
            assert snap.collection.n == len(got_lengths)
    finally:
        store.close()
    key = {cid: k for k, cid in ids.items()}
    by_key = {t: {key[i]: f for i, f in p.items()} for t, p in got_postings.items()}
    return IndexState(generation, articles, chunks, terms, vectors, ids, by_key,
                      {key[i]: n for i, n in got_lengths.items()})


def faiss_file_matches(root: Any, state: IndexState) -> bool:
    """The committed generation's FAISS file itself holds exactly the catalog's chunk ids (no rebuild needed);
    for another backend, its own published vector store."""
    if not isinstance(root, (str, Path)):
        return root.published_matches(state)
    path = vector_file(root, state.generation)
    if not path.is_file():
        return False
    return sorted(VectorIndex.read(path).ids().tolist()) == sorted(state.chunk_ids)


def assert_same_index(got: IndexState, want: IndexState, tol: float = 1e-6) -> None:
    """Same articles (content hashes), same chunk rows and keyword rows, vectors equal within ``tol``."""
    assert got.articles == want.articles, (f"missing {sorted(want.articles - got.articles)[:5]}, "
                                           f"extra {sorted(got.articles - want.articles)[:5]}")
    assert got.chunks == want.chunks
    assert got.fts == want.fts
    assert got.postings == want.postings and got.lengths == want.lengths
    worst = max((float(np.abs(got.vectors[k] - want.vectors[k]).max()) for k in want.vectors), default=0.0)
    assert worst <= tol, f"vectors differ from a clean build by up to {worst}"


def leftovers(root: Any) -> list[str]:
    """Temporary files a writer left behind."""
    if not isinstance(root, (str, Path)):
        return root.leftovers()
    return sorted(p.name for p in Path(root).iterdir() if ".tmp" in p.name)


def copy_index(src: Any, dest: Path) -> Any:
    """A private copy of an index (a folder, or a tests.backends.IndexUnderTest: its own clone)."""
    if not isinstance(src, (str, Path)):
        return src.clone(dest)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("write.lock"))
    return dest


def wait_for(predicate, timeout: float, interval: float = 0.05, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
