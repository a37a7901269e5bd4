"""Must-hold 5 (index side): nothing is ever unpickled, and index files from an untrusted source are validated
before use — a bad FAISS file is rebuilt from the catalog (never served, never mixed with the catalog's
vectors), a bad catalog is refused with a clear message. Never a traceback.

(Upload paths and the UI's bind address belong to the UI tests.)"""
from __future__ import annotations

import random
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from index.store import IndexInvalid, Store
from index.vectors import VectorIndex

from .helpers import (
    ROOT,
    SEED_QUESTION,
    ask_json,
    cli,
    copy_index,
    inspect,
    vector_file,
)

# ------------------------------------------------------------------------------------ no pickle ---
DANGEROUS = [
    (re.compile(r"^\s*(import|from)\s+(c?pickle|_pickle|dill|shelve|cloudpickle|joblib)\b", re.MULTILINE), "imports a pickle module"),
    (re.compile(r"\b(c?pickle|dill|cloudpickle|joblib)\.(loads?|Unpickler)\b"), "unpickles"),
    (re.compile(r"\bread_pickle\s*\("), "unpickles (pandas)"),
    (re.compile(r"allow_dangerous_deserialization"), "allows dangerous deserialization"),
    (re.compile(r"allow_pickle\s*=\s*True"), "loads numpy pickles"),
    (re.compile(r"\btorch\.load\((?![^)]*weights_only\s*=\s*True)[^)]*\)", re.DOTALL), "torch.load without weights_only=True"),
]


def test_no_pickle_loads_anywhere():
    found = []
    for folder in ("index", "rag", "ui"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            for pattern, what in DANGEROUS:
                for m in pattern.finditer(source):
                    line = source.count("\n", 0, m.start()) + 1
                    found.append(f"{path.relative_to(ROOT)}:{line}: {what}: {m.group(0).strip()}")
    assert not found, "\n".join(found)


def test_the_pickle_check_catches_what_it_looks_for():
    bad = ("import pickle\nx = pickle.loads(b)\nFAISS.load_local(p, e, allow_dangerous_deserialization=True)\n"
           "np.load(f, allow_pickle=True)\ntorch.load(f)\ntorch.load(f, map_location='cpu')\n")
    good = "torch.load(f, weights_only=True)\n# no pickle anywhere\n"
    assert sum(len(p.findall(bad)) for p, _ in DANGEROUS) == 6
    assert sum(len(p.findall(good)) for p, _ in DANGEROUS) == 0


# ------------------------------------------------------------------------ untrusted index files ---
@pytest.fixture()
def index(tmp_path, seed_index) -> Path:
    return copy_index(seed_index, tmp_path / "index")


def current_vectors(index: Path) -> Path:
    store = Store(index)
    gen = store.info.generation
    store.close()
    return vector_file(index, gen)


def blobs(index: Path) -> tuple[np.ndarray, np.ndarray]:
    conn = sqlite3.connect(index / "catalog.sqlite")
    rows = conn.execute("SELECT id, vector FROM chunks ORDER BY id").fetchall()
    conn.close()
    return (np.array([r[0] for r in rows], np.int64),
            np.vstack([np.frombuffer(r[1], np.float32) for r in rows]))


def set_meta(index: Path, key: str, value: str) -> None:
    conn = sqlite3.connect(index / "catalog.sqlite")
    conn.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    conn.commit()
    conn.close()


def answers(index: Path) -> None:
    answer = ask_json(index, SEED_QUESTION)
    assert answer["citations"] and not answer["refused"]


def serves_the_catalog(index: Path) -> None:
    """The vectors served are exactly the catalog's (inspect checks every one), and questions are answered."""
    inspect(index)
    answers(index)


def _tamper(kind: str, path: Path, ids: np.ndarray, mat: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    if kind == "random bytes":
        path.write_bytes(random.Random(3).randbytes(path.stat().st_size))
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "other dimension":
        VectorIndex.from_rows(16, ids, rng.standard_normal((len(ids), 16)).astype(np.float32)).write(path)
    elif kind == "one vector missing":
        VectorIndex.from_rows(mat.shape[1], ids[:-1], mat[:-1]).write(path)
    elif kind == "one vector extra":
        extra = np.vstack([mat, mat[:1]])
        VectorIndex.from_rows(mat.shape[1], np.append(ids, ids.max() + 1), extra).write(path)
    elif kind == "same ids, other vectors":   # e.g. copied from another index of the same size
        other = rng.standard_normal(mat.shape).astype(np.float32)
        VectorIndex.from_rows(mat.shape[1], ids, other / np.linalg.norm(other, axis=1, keepdims=True)).write(path)
    elif kind == "same ids, vectors swapped":
        VectorIndex.from_rows(mat.shape[1], ids, mat[::-1].copy()).write(path)
    elif kind == "bit flips in the vectors":
        data = bytearray(path.read_bytes())
        for _ in range(8):
            i = int(rng.integers(120, len(data) - 8 * len(ids) - 8))
            data[i] ^= 0x40
        path.write_bytes(bytes(data))
    else:
        raise ValueError(kind)


FAISS_CASES = ["random bytes", "truncated", "empty", "other dimension", "one vector missing", "one vector extra",
               "same ids, other vectors", "same ids, vectors swapped", "bit flips in the vectors"]


@pytest.mark.parametrize("kind", FAISS_CASES)
def test_a_bad_faiss_file_is_rebuilt_from_the_catalog(index, kind):
    ids, mat = blobs(index)
    _tamper(kind, current_vectors(index), ids, mat)
    serves_the_catalog(index)


def test_a_catalog_of_another_schema_version_is_refused(index):
    set_meta(index, "schema", "99")
    with pytest.raises(IndexInvalid, match="schema version 99"):
        Store(index)
    for args in (["ask", SEED_QUESTION, "--json"], ["index", "status"], ["index", "update", ROOT / "seeds"]):
        result = cli(index, *args)
        assert result.exit_code == 1 and "schema version 99" in result.stderr and f"`rag --index {index} index build`" in result.stderr
    # and the remedy it names works
    result = cli(index, "index", "build", ROOT / "seeds", "--json")
    assert result.exit_code == 0, result.stderr
    serves_the_catalog(index)


def test_a_catalog_whose_dimension_disagrees_with_its_vectors_is_refused(index):
    set_meta(index, "dim", "512")
    for args in (["ask", SEED_QUESTION, "--json"], ["index", "status"], ["index", "update", ROOT / "seeds"]):
        result = cli(index, *args)
        assert result.exit_code == 1 and "512" in result.stderr, (args, result.stderr)


@pytest.mark.parametrize("kind", ["random bytes", "truncated", "empty", "not our tables", "bad setting"])
def test_a_garbage_catalog_is_refused_with_a_clear_message(index, kind):
    catalog = index / "catalog.sqlite"
    if kind == "random bytes":
        catalog.write_bytes(random.Random(5).randbytes(catalog.stat().st_size))
    elif kind == "truncated":
        catalog.write_bytes(catalog.read_bytes()[: catalog.stat().st_size // 2])
    elif kind == "empty":
        catalog.write_bytes(b"")
    elif kind == "not our tables":
        conn = sqlite3.connect(catalog)
        conn.execute("DROP TABLE chunks")
        conn.commit()
        conn.close()
    else:
        set_meta(index, "generation", "many")
    with pytest.raises(IndexInvalid):
        Store(index)
    for args in (["ask", SEED_QUESTION, "--json"], ["index", "status"], ["index", "update", ROOT / "seeds"]):
        result = cli(index, *args)
        line = result.stderr.strip()
        assert result.exit_code == 1 and line.startswith("rag: ") and "\n" not in line, (args, line)
        assert str(index) in line, line
