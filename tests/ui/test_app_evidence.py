"""The Streamlit page with the LLM answerer (through the loopback OpenAI-style server): each sentence is shown
beside the Arabic sentence it rests on, with its label, escaped and with its own direction (issue 17)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.rag.fake_openai import FakeOpenAI, Reply

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")
PESKOV = "دميتري بيسكوف"


def test_llm_answer_shows_each_claim_beside_its_evidence(seed_index: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAI() as server:
        for k, v in {"RAG_INDEX_DIR": str(seed_index), "RAG_ANSWERER": "llm", "RAG_LLM_BASE_URL": server.url,
                     "RAG_LLM_MODEL": "fake-qwen", "RAG_LLM_TIMEOUT": "10", "XDG_CONFIG_HOME": str(tmp_path)}.items():
            monkeypatch.setenv(k, v)
        monkeypatch.delenv("RAG_CONFIG", raising=False)
        at = AppTest.from_file(APP, default_timeout=120).run()
        assert not at.exception, [e.value for e in at.exception]
        # every passage of the prompt is cited, so the claim is checked against the one naming Peskov
        server.push(Reply("The Kremlin spokesman is Dmytro <i>Byskof</i>. [1][2][3][4][5]"))
        at.chat_input[0].set_value("Who is the Kremlin spokesman?").run()
        assert not at.exception, [e.value for e in at.exception]
    turn = at.session_state["turns"][0]
    assert turn.answer.answerer == "llm"
    blocks = [m.value for m in at.markdown if 'class="rag-evidence"' in m.value]
    assert len(blocks) == 1
    html = blocks[0]
    assert "rag-label-related" in html and "rag-confirmed" not in html
    assert "<i>" not in html and "&lt;i&gt;Byskof&lt;/i&gt;" in html
    ev = html[html.index('class="rag-ev"'):]
    assert ev.startswith('class="rag-ev" dir="rtl" lang="ar"') and PESKOV in ev
