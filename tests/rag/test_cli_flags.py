"""CLI conveniences a newcomer reaches for: --index after the subcommand (and in every --help), hints that
repeat the user's --index, --version, -k, and `rag chat`'s /help and Ctrl-D."""
from __future__ import annotations

import json
import os
import pty
import select
import sys
import time
from importlib.metadata import version

import pytest
from click.testing import CliRunner

from rag.cli import main
from tests.conftest import ROOT, SEED_DIR

AMBASSADOR_AR = "من هي السفيرة الأمريكية لدى الأمم المتحدة؟"


def invoke(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], input=stdin, catch_exceptions=False)


def test_index_after_the_subcommand(tmp_path, seed_index):
    index = tmp_path / "after"
    built = invoke("index", "build", SEED_DIR, "--index", index, "--json")
    assert built.exit_code == 0 and json.loads(built.stdout)["articles"] == 2 and (index / "catalog.sqlite").is_file()
    status = invoke("index", "status", "--index", index, "--json")
    assert status.exit_code == 0 and json.loads(status.stdout)["index"] == str(index)
    answer = invoke("ask", AMBASSADOR_AR, "--index", seed_index, "--json")
    assert answer.exit_code == 0 and "ليندا توماس غرينفيلد" in json.loads(answer.stdout)["answer"]
    # after the subcommand wins over before it (the later, more specific one)
    again = invoke("--index", tmp_path / "elsewhere", "ask", AMBASSADOR_AR, "--index", seed_index, "--json")
    assert again.exit_code == 0


@pytest.mark.parametrize("command", [["index", "build"], ["index", "update"], ["index", "status"],
                                     ["index", "sources"], ["index", "watch"], ["ask"], ["chat"], ["show"], ["ui"],
                                     ["serve"]])
def test_every_subcommand_help_shows_index(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and "--index DIRECTORY" in result.stdout


def test_hints_repeat_the_users_index(tmp_path):
    none = tmp_path / "none"
    for args in (["ask", "سؤال", "--index", none], ["--index", none, "ask", "سؤال"],
                 ["index", "status", "--index", none]):
        result = invoke(*args)
        assert result.exit_code == 1
        assert f"`rag --index {none} index build seeds/`" in result.stderr, result.stderr
    # without --index the hint stays as it was
    env_only = CliRunner().invoke(main, ["ask", "سؤال"], env={"RAG_INDEX_DIR": str(none)})
    assert "`rag index build seeds/`" in env_only.stderr


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"rag {version('rag-news')}"


def test_short_k(seed_index):
    one = json.loads(invoke("ask", AMBASSADOR_AR, "-k", "1", "--index", seed_index, "--json").stdout)
    three = json.loads(invoke("ask", AMBASSADOR_AR, "-k", "3", "--index", seed_index, "--json").stdout)
    assert len(one["retrieved"] if "retrieved" in one else one["citations"]) <= 1
    assert len(three["citations"]) + len(three.get("related", [])) >= len(one["citations"])
    assert invoke("ask", AMBASSADOR_AR, "-k", "0", "--index", seed_index).exit_code == 2


def test_chat_help_lists_the_commands_instead_of_asking_it(seed_index):
    result = invoke("chat", "--index", seed_index, stdin="/help\n/quit\n")
    assert result.exit_code == 0
    assert "/new" in result.stdout and "/quit" in result.stdout and "Ctrl-D" in result.stdout
    assert "[1]" not in result.stdout and "Sources" not in result.stdout  # not retrieved or answered
    # in an Arabic conversation the list is in Arabic
    arabic = invoke("chat", "--index", seed_index, stdin=f"{AMBASSADOR_AR}\n/help\n")
    assert "الأوامر:" in arabic.stdout and "محادثة جديدة" in arabic.stdout


def test_ctrl_d_in_chat_ends_on_a_new_line(seed_index):
    """A real terminal (pty): after Ctrl-D at the prompt the output ends with a line break."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: `rag chat` on the pty
        os.environ["PYTHONPATH"] = str(ROOT)
        os.execv(sys.executable, [sys.executable, "-m", "rag.cli", "--index", str(seed_index), "chat"])
    out = b""

    def read_until(marker: bytes, timeout: float = 120) -> None:
        nonlocal out
        deadline = time.monotonic() + timeout
        while marker not in out and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    return
                if not data:
                    return
                out += data

    try:
        read_until("› ".encode())
        assert "› ".encode() in out, out
        os.write(fd, b"\x04")   # Ctrl-D
        read_until(b"\0", timeout=30)   # i.e. until the child has gone and the pty reports EOF
        _, status = os.waitpid(pid, 0)
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    tail = out.split("› ".encode())[-1]
    assert tail.endswith(b"\r\n") or tail.endswith(b"\n"), out
    assert os.waitstatus_to_exitcode(status) == 0
