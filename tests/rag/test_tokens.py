"""tiktoken counting offline from the shipped encoding file, and the context budget built on it.

The offline checks run in a fresh interpreter: tiktoken keeps loaded encodings in memory, so only a new
process shows whether the *first* load works with the network blocked.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

from rag.answer.llm import LLMAnswerer
from rag.answer.prompt import build_prompt
from rag.config import Settings
from rag.pipeline import Pipeline
from rag.tokens import RESOURCE_DIR, cache_key, count_tokens

ROOT = Path(__file__).resolve().parents[2]
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
SHARED_TIKTOKEN = next((Path(p) for p in (os.environ.get("RAG_SHARED_TIKTOKEN"), ROOT.parent / "shared" / "tiktoken")
                        if p and Path(p).is_dir()), Path("/work/shared/tiktoken"))
Q_AR = "من هي السفيرة الأمريكية لدى الأمم المتحدة؟"

BLOCK_NETWORK = """
import socket
def _refuse(*args, **kwargs):
    raise OSError("network blocked by the test")
socket.socket.connect = _refuse
socket.create_connection = _refuse
"""


def run_offline(body: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = BLOCK_NETWORK + textwrap.dedent(body)
    full_env = {k: v for k, v in os.environ.items() if k not in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full_env, capture_output=True, text=True,
                          timeout=120)


def test_the_encoding_ships_under_the_name_tiktoken_expects() -> None:
    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    assert cache_key("o200k_base") == hashlib.sha1(url.encode()).hexdigest() == "fb374d419588a4632f3f557e76b4b70aebbca790"
    data = (RESOURCE_DIR / cache_key("o200k_base")).read_bytes()
    assert hashlib.sha256(data).hexdigest() == O200K_SHA256  # the hash tiktoken itself checks on load


def test_counting_works_with_the_network_blocked(tmp_path: Path) -> None:
    """With TIKTOKEN_CACHE_DIR on our folder; and with the user's own empty cache folder, which is left
    as it was (set, empty) after the load."""
    done = run_offline("""
        import os
        from rag.tokens import count_tokens
        n = count_tokens("السفيرة الأمريكية")
        assert 0 < n < 10, n
        print(n)
    """, {"TIKTOKEN_CACHE_DIR": str(RESOURCE_DIR)})
    assert done.returncode == 0, done.stderr
    user_cache = tmp_path / "my-cache"
    user_cache.mkdir()
    done = run_offline(f"""
        import os
        from rag.tokens import count_tokens
        assert count_tokens("السفيرة الأمريكية") > 0
        assert os.environ["TIKTOKEN_CACHE_DIR"] == {str(user_cache)!r}
        assert os.listdir({str(user_cache)!r}) == []
    """, {"TIKTOKEN_CACHE_DIR": str(user_cache)})
    assert done.returncode == 0, done.stderr


def test_a_user_cache_that_has_the_file_is_used(tmp_path: Path) -> None:
    user_cache = tmp_path / "cache"
    user_cache.mkdir()
    shutil.copy(RESOURCE_DIR / cache_key("o200k_base"), user_cache / cache_key("o200k_base"))
    done = run_offline("""
        import rag.tokens as t
        from pathlib import Path
        t.RESOURCE_DIR = Path("/nonexistent")   # only the user's cache can serve it now
        assert t.count_tokens("السفيرة الأمريكية") > 0
    """, {"TIKTOKEN_CACHE_DIR": str(user_cache)})
    assert done.returncode == 0, done.stderr


def test_o200k_is_cheaper_than_cl100k_for_arabic(tmp_path: Path) -> None:
    """Why o200k: measured on the seed article (needs cl100k, not shipped: taken from shared/ when there)."""
    cl = SHARED_TIKTOKEN / "cl100k_base.tiktoken"
    if not cl.is_file():
        pytest.skip(f"cl100k_base.tiktoken not at {SHARED_TIKTOKEN}")
    cache = tmp_path / "both"
    cache.mkdir()
    shutil.copy(cl, cache / cache_key("cl100k_base"))
    shutil.copy(RESOURCE_DIR / cache_key("o200k_base"), cache / cache_key("o200k_base"))
    seed = next((ROOT / "seeds").iterdir())
    done = run_offline(f"""
        import tiktoken
        text = open({str(seed)!r}, encoding="utf-8").read()
        o, c = (len(tiktoken.get_encoding(n).encode(text)) for n in ("o200k_base", "cl100k_base"))
        print(o, c)
        assert o < 0.75 * c, (o, c)
    """, {"TIKTOKEN_CACHE_DIR": str(cache)})
    assert done.returncode == 0, done.stderr


def test_special_token_text_in_articles_is_counted_not_refused() -> None:
    assert count_tokens("خبر <|endoftext|> آخر") > 3


# ------------------------------------------------------------------------------------------------ budget --
@pytest.fixture(scope="module")
def retrieval(seed_index: Path, embedder: Any):
    pipe = Pipeline(Settings(index_dir=seed_index), embedder=embedder)
    yield pipe.retrieve(Q_AR)
    pipe.close()


def test_a_small_window_drops_passages_and_reports_them(retrieval: Any) -> None:
    full = build_prompt(Q_AR, retrieval.hits, "ar", count_tokens, 8192, 512)
    assert not full.dropped and len(full.given) == 5
    small = build_prompt(Q_AR, retrieval.hits, "ar", count_tokens, 1600, 256)
    assert 1 <= len(small.given) < 5
    assert len(small.given) + len(small.dropped) == 5
    assert {d["rank"] for d in small.dropped} | {retrieval.hits.index(h) + 1 for h in small.given} == {1, 2, 3, 4, 5}
    assert all(set(d) == {"rank", "article_id", "chunk_id", "title", "tokens"} for d in small.dropped)
    assert small.prompt_tokens <= int(1600 * 0.9) - 256
    assert count_tokens(small.messages[0][1]) + count_tokens(small.messages[1][1]) <= small.prompt_tokens
    user = small.messages[1][1]
    assert f'<passage id="{len(small.given)}">' in user and f'<passage id="{len(small.given) + 1}">' not in user


class Seen(BaseCallbackHandler):
    def __init__(self) -> None:
        self.calls: list[Any] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.calls.extend(messages)


def test_the_answer_reports_dropped_passages(embedder: Any, seed_index: Path, retrieval: Any) -> None:
    seen = Seen()
    model = GenericFakeChatModel(messages=iter(["ليندا توماس غرينفيلد هي السفيرة الأمريكية [1]."]), callbacks=[seen])
    s = Settings(index_dir=seed_index, llm_model="fake", llm_context_window=1600, llm_max_answer_tokens=256)
    answer = LLMAnswerer(embedder, s, chat_model=model).answer(Q_AR, retrieval)
    dropped = answer.meta["dropped_passages"]
    assert dropped and answer.meta["passages_given"] + len(dropped) == 5
    assert seen.calls[0][1].content.count("<passage id=") == answer.meta["passages_given"]
    assert answer.to_json()["meta"]["dropped_passages"] == dropped


def test_a_window_too_small_for_any_passage_falls_back(embedder: Any, seed_index: Path, retrieval: Any) -> None:
    s = Settings(index_dir=seed_index, llm_model="fake", llm_context_window=700, llm_max_answer_tokens=256)
    answer = LLMAnswerer(embedder, s, chat_model=GenericFakeChatModel(messages=iter([]))).answer(Q_AR, retrieval)
    assert answer.answerer == "extractive" and answer.meta["fallback"] == "context"
    assert len(answer.meta["dropped_passages"]) == 5 and answer.notes
