"""ui/launch.py: `rag ui` builds the seed index when there is none, runs Streamlit bound to the asked
address with usage statistics off, hands the settings over, prints the URL and returns the exit status.
Only the Streamlit subprocess is replaced (by a recorder); the seed index is really built."""
from __future__ import annotations

from pathlib import Path

import pytest

from index.store import exists
from rag.config import Settings
from ui import launch as launcher


class FakePopen:
    """Records the command and environment instead of starting a server."""

    calls: list[tuple[list[str], dict[str, str]]] = []

    def __init__(self, cmd: list[str], env: dict[str, str], cwd: str) -> None:
        FakePopen.calls.append((cmd, env))

    def wait(self, timeout: float | None = None) -> int:
        return 0

    def send_signal(self, sig: int) -> None:  # pragma: no cover - only on SIGTERM
        pass


@pytest.fixture(autouse=True)
def fake_streamlit(monkeypatch: pytest.MonkeyPatch) -> None:
    FakePopen.calls = []
    monkeypatch.setattr(launcher.subprocess, "Popen", FakePopen)


def test_first_run_builds_the_seed_index_then_serves(tmp_path: Path, capsys) -> None:
    s = Settings(index_dir=tmp_path / ".rag", ui_port=8123, upload_max_mb=7, k=9)
    assert launcher.launch(s) == 0
    assert exists(s.index_dir)
    out = capsys.readouterr().out
    assert "building it over" in out and "Open http://127.0.0.1:8123" in out
    (cmd, env), = FakePopen.calls
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4].endswith("ui/app.py")
    joined = " ".join(cmd)
    for flag in ("--server.headless true", "--server.address 127.0.0.1", "--server.port 8123",
                 "--browser.gatherUsageStats false", "--server.maxUploadSize 7"):
        assert flag in joined
    assert cmd[-3:] == ["--", "--index", str(s.index_dir.resolve())]
    assert env["RAG_INDEX_DIR"] == str(s.index_dir.resolve())
    assert env["RAG_K"] == "9" and env["RAG_UPLOAD_MAX_MB"] == "7"     # non-default settings reach the page


def test_no_build_and_network_warning(tmp_path: Path, capsys) -> None:
    s = Settings(index_dir=tmp_path / "none", ui_host="0.0.0.0", ui_port=8124)
    assert launcher.launch(s, build_seeds=False) == 0
    assert not exists(s.index_dir)
    captured = capsys.readouterr()
    assert "reachable from the network" in captured.err
    assert "Open http://0.0.0.0:8124" in captured.out


@pytest.mark.parametrize("host,loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                           ("127.0.0.2", True), ("0.0.0.0", False), ("192.168.1.5", False),
                                           ("example.org", False)])
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert launcher.is_loopback(host) is loopback


def test_a_busy_port_is_replaced_by_the_next_free_one_before_the_url_is_printed(tmp_path: Path, capsys) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        s = Settings(index_dir=tmp_path / "none", ui_port=taken)
        assert launcher.launch(s, build_seeds=False) == 0
    out = capsys.readouterr().out
    (cmd, _env), = FakePopen.calls
    port = int(cmd[cmd.index("--server.port") + 1])
    assert port != taken and port > taken
    assert f"Port {taken} is in use" in out and out.index(f"Port {taken} is in use") < out.index(
        f"Open http://127.0.0.1:{port}")
