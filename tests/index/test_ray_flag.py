"""`--ray` without a cluster: a value that is a path, a bad setting and a missing Ray are clear errors that
change nothing; without `--ray` nothing imports Ray (tests/index/test_embedders.py and tests/rag/test_ask.py
check the default build and ask paths)."""
from __future__ import annotations

import sys

from click.testing import CliRunner

from index.ray_ingest import LOCAL, looks_like_address, resolve_address
from rag.cli import main
from tests.conftest import SEED_DIR


def test_a_folder_after_ray_is_not_taken_for_a_cluster_address(tmp_path):
    result = CliRunner().invoke(main, ["--index", str(tmp_path / ".rag"), "index", "build", "--ray", str(SEED_DIR)])
    assert result.exit_code == 2
    assert "is not a Ray address" in result.stderr and "put --ray after the paths" in result.stderr
    assert not (tmp_path / ".rag").exists()


def test_the_address_comes_from_the_flag_then_ray_address_then_a_local_ray():
    assert resolve_address(LOCAL, {}) == LOCAL
    assert resolve_address(LOCAL, {"RAY_ADDRESS": "10.0.0.5:6379"}) == "10.0.0.5:6379"
    assert resolve_address("ray://head:10001", {"RAY_ADDRESS": "10.0.0.5:6379"}) == "ray://head:10001"
    assert all(looks_like_address(a) for a in ("auto", "127.0.0.2:6379", "ray://head:10001"))
    assert not any(looks_like_address(a) for a in ("seeds", "seeds/", "./news:2024", "archive"))


def test_a_missing_ray_says_which_extra_to_install_and_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as on a machine without the extra
    result = CliRunner().invoke(main, ["--index", str(tmp_path / ".rag"), "index", "build", str(SEED_DIR), "--ray"])
    assert result.exit_code == 1
    assert "install the ray extra: pip install 'rag-news[ray]'" in result.stderr
    assert "nothing was changed" in result.stderr
    assert not (tmp_path / ".rag" / "catalog.sqlite").exists()


def test_a_bad_ray_setting_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_RAY_ACTORS", "-1")
    result = CliRunner().invoke(main, ["--index", str(tmp_path / ".rag"), "index", "update", str(SEED_DIR), "--ray"])
    assert result.exit_code == 1 and "ray_actors must be 0 (one per CPU) or more" in result.stderr
