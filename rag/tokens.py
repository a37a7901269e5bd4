"""Token counting for LLM prompts with tiktoken, offline.

Why tiktoken at all: the LLM answerer must fit passages into the model's context window *before* sending
them, and the served model's own tokenizer is usually not available here (a remote API, an Ollama server).
``o200k_base`` is a good stand-in: it is a recent large-vocabulary BPE and, measured on the seed article
(Arabic news), needs 949 tokens where ``cl100k_base`` needs 2160 (tests/rag/test_tokens.py), so it is far
closer than older encodings to what current multilingual models spend on Arabic. The prompt keeps a margin for the difference
(:data:`rag.answer.prompt.WINDOW_MARGIN`).

Why the shipped file: tiktoken downloads its BPE ranks on first use, which fails without internet. The
file ships in ``rag/resources/tiktoken/`` under the name tiktoken's cache expects (the sha1 of the download
URL), and tiktoken verifies its sha256 itself on load. ``TIKTOKEN_CACHE_DIR`` is pointed there only for the
first load of an encoding, and only when the user's own cache folder does not already hold the file; the
previous value is restored afterwards so the user's other tiktoken use is untouched (tiktoken keeps loaded
encodings in memory, so nothing reads the variable again for that encoding).

tiktoken is imported inside the functions: this module is imported only by the LLM answerer, and even then
the import cost is paid only when a count is needed.
"""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import tiktoken

#: The encoding every prompt budget is counted in.
DEFAULT_ENCODING = "o200k_base"
#: Where the encoding files ship, named as tiktoken's cache names them.
RESOURCE_DIR = Path(__file__).resolve().parent / "resources" / "tiktoken"
_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"

_lock = threading.Lock()
_loaded: dict[str, "tiktoken.Encoding"] = {}


def cache_key(name: str) -> str:
    """The file name tiktoken's cache uses for encoding ``name`` (sha1 of its download URL)."""
    return hashlib.sha1(_URL.format(name=name).encode()).hexdigest()


def shipped(name: str) -> bool:
    """Whether the encoding file for ``name`` ships with the package."""
    return (RESOURCE_DIR / cache_key(name)).is_file()


def _user_cache_has(name: str) -> bool:
    folder = os.environ.get("TIKTOKEN_CACHE_DIR")
    return bool(folder) and (Path(folder) / cache_key(name)).is_file()


def get_encoding(name: str = DEFAULT_ENCODING) -> "tiktoken.Encoding":
    """The tiktoken encoding ``name``, loaded from the shipped file when the user's cache lacks it.

    Raises RuntimeError with a plain explanation when the encoding is neither shipped nor cached (tiktoken
    would otherwise try the network and fail with a connection traceback).
    """
    enc = _loaded.get(name)
    if enc is not None:
        return enc
    with _lock:
        if name in _loaded:
            return _loaded[name]
        import tiktoken

        seed = not _user_cache_has(name) and shipped(name)
        previous = os.environ.get("TIKTOKEN_CACHE_DIR")
        if seed:
            os.environ["TIKTOKEN_CACHE_DIR"] = str(RESOURCE_DIR)
        try:
            enc = tiktoken.get_encoding(name)
        except Exception as exc:  # requests/urllib errors when it tried to download
            raise RuntimeError(
                f"tiktoken encoding {name!r} is not available offline: it does not ship in {RESOURCE_DIR} "
                f"and TIKTOKEN_CACHE_DIR does not hold it ({type(exc).__name__})") from exc
        finally:
            if seed:
                if previous is None:
                    os.environ.pop("TIKTOKEN_CACHE_DIR", None)
                else:
                    os.environ["TIKTOKEN_CACHE_DIR"] = previous
        _loaded[name] = enc
        return enc


def count_tokens(text: str, encoding: str = DEFAULT_ENCODING) -> int:
    """Tokens of ``text`` in ``encoding``. Special-token strings in article text count as plain text:
    an article may contain "<|endoftext|>" and must not make counting raise."""
    if not text:
        return 0
    return len(get_encoding(encoding).encode(text, disallowed_special=()))


def truncate(text: str, max_tokens: int, encoding: str = DEFAULT_ENCODING) -> str:
    """``text`` cut to at most ``max_tokens`` tokens (on a token boundary, decoded leniently)."""
    if max_tokens <= 0:
        return ""
    enc = get_encoding(encoding)
    ids = enc.encode(text, disallowed_special=())
    if len(ids) <= max_tokens:
        return text
    return enc.decode(ids[:max_tokens], errors="ignore")


def counter(encoding: str = DEFAULT_ENCODING) -> Any:
    """A one-argument counting function, loading the encoding now so a missing file fails early."""
    get_encoding(encoding)
    return lambda text: count_tokens(text, encoding)
