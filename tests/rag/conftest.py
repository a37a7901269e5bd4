from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rag.config import Settings
from rag.pipeline import Pipeline


@pytest.fixture(scope="module")
def pipeline(seed_index: Path, embedder: Any) -> Pipeline:
    """A Pipeline over the shared seed index, with the session's real embedder."""
    p = Pipeline(Settings(index_dir=seed_index), embedder=embedder)
    yield p
    p.close()
