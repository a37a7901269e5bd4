"""The real thing: `rag ui` serving the page, headless Debian Chromium driving it through Playwright.

Asserts what only a browser can show: the answer's computed direction, the highlighted sentence in an
opened citation, an English question laid out left-to-right, and that an uploaded article full of markup
is displayed as text and runs nothing. Screenshots go to test-output/screenshots/ for a human to look at.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "test-output" / "screenshots"
AMBASSADOR = "من هي السفيرة الأمريكية لدى الأمم المتحدة؟"
NAME = "ليندا توماس غرينفيلد"
ANSWER_TIMEOUT_MS = 90_000
FINAL_ANSWER = ".rag-answer:not(.rag-pending):not(.rag-streaming)"
MALICIOUS = ("افتتاح حديقة الزيتون <b>الجديدة</b>\n"
             "أعلنت بلدية المدينة افتتاح حديقة الزيتون الجديدة يوم الاثنين بحضور مئات السكان.\n"
             "<script>window.__pwned=1</script>\n"
             "<img src=x onerror=\"window.__pwned=1\">\n"
             "وتضم الحديقة ألف شجرة زيتون وممرات للدراجات.\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"`rag ui` exited with status {proc.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


@pytest.fixture(scope="module")
def server(seed_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`rag ui --no-build` on a private copy of the seed index; the whole process group is killed after."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (CI installs it with `.ci/setup --browser`)")
    pytest.importorskip("playwright.sync_api")
    index = tmp_path_factory.mktemp("ui-index") / ".rag"
    shutil.copytree(seed_index, index)
    port = free_port()
    rag = Path(sys.executable).with_name("rag")
    cmd = [str(rag)] if rag.exists() else [sys.executable, "-m", "rag.cli"]
    log = (tmp_path_factory.mktemp("ui-log") / "rag-ui.log").open("w")
    env = {**os.environ, "RAG_INDEX_DIR": str(index),
           "XDG_CONFIG_HOME": str(tmp_path_factory.mktemp("no-config"))}   # no user config leaks in
    env.pop("RAG_CONFIG", None)
    proc = subprocess.Popen([*cmd, "ui", "--no-build", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/_stcore/health", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        log.close()


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def page(browser, server: str):
    """A fresh tab (a fresh Streamlit session) per test, every wait bounded."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1300, "height": 1000}, locale="ar")
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(server, timeout=60_000)
    pg.wait_for_selector('[data-testid="stChatInput"] textarea', timeout=60_000)
    try:
        yield pg
    finally:
        context.close()


#: Records every state the answer bubble passes through (pending → streaming → final) as it happens,
#: since the streaming phase can be shorter than any polling interval.
WATCH_PHASES = """() => {
  window.__phases = new Set();
  const seen = n => { if (n.nodeType !== 1) return;
    for (const c of ["rag-pending", "rag-streaming"]) {
      if (n.classList.contains(c) || n.querySelector("." + c)) window.__phases.add(c); } };
  // React may patch the same <div>'s class instead of adding a node: watch both.
  new MutationObserver(ms => ms.forEach(m => m.type === "attributes" ? seen(m.target) : m.addedNodes.forEach(seen)))
    .observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ["class"]});
}"""


def phases(page) -> set[str]:
    return set(page.evaluate("[...(window.__phases || [])]"))


def ask(page, question: str) -> object:
    """Type a question, watch the answer stream in, return the final answer element."""
    before = page.locator(FINAL_ANSWER).count()
    page.evaluate(WATCH_PHASES)
    box = page.locator('[data-testid="stChatInput"] textarea')
    box.fill(question)
    box.press("Enter")
    page.wait_for_selector(".rag-answer", timeout=ANSWER_TIMEOUT_MS)   # pending/streaming bubble first
    page.wait_for_function(f"document.querySelectorAll('{FINAL_ANSWER}').length > {before}",
                           timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_selector('[data-testid="stChatInput"] textarea:not([disabled])', timeout=30_000)
    return page.locator(FINAL_ANSWER).last


def open_citation(page, number: int = 1, nth: int = -1) -> object:
    """Open the citation ``[number]`` of the ``nth`` answer; return the opened expander."""
    main = page.locator('[data-testid="stMainBlockContainer"]')
    expanders = main.locator('[data-testid="stExpander"]').filter(has_text=f"[{number}]")
    exp = expanders.nth(nth) if nth >= 0 else expanders.last
    exp.locator("summary").click()
    exp.locator(".rag-passage").wait_for(state="visible", timeout=15_000)
    exp.scroll_into_view_if_needed()
    return exp


def direction(locator) -> str:
    return locator.evaluate("e => getComputedStyle(e).direction")


def test_arabic_answer_is_rtl_cited_and_opens_at_the_sentence(page) -> None:
    answer = ask(page, AMBASSADOR)
    assert NAME in answer.inner_text()
    assert answer.locator(".rag-cite").first.inner_text() == "[1]"
    assert direction(answer) == "rtl"
    assert direction(answer.locator(".rag-cite").first) == "ltr"       # the marker stays "[1]"
    assert answer.evaluate("e => getComputedStyle(e).textAlign") in {"right", "start"}
    question = page.locator(".rag-question").last
    assert direction(question) == "rtl"
    page.screenshot(path=str(SHOTS / "01-arabic-answer.png"))

    exp = open_citation(page, 1)
    mark = exp.locator("mark.rag-hl")
    assert mark.count() >= 1 and NAME in mark.first.inner_text()
    assert direction(exp.locator(".rag-passage")) == "rtl"
    assert "2023-08-31" in exp.locator(".rag-source").inner_text()
    assert "السومرية" in exp.locator(".rag-source").inner_text()
    page.screenshot(path=str(SHOTS / "02-citation-opened.png"))

    exp.get_by_role("button", name="Read the whole article").click()
    dialog = page.locator('[role="dialog"]')
    dialog.locator("mark.rag-hl").wait_for(state="visible", timeout=15_000)
    assert NAME in dialog.locator("mark.rag-hl").first.inner_text()
    assert "المصدر:" not in dialog.inner_text() and "وكشفت أن" in dialog.inner_text()   # the full text
    page.screenshot(path=str(SHOTS / "03-whole-article.png"))


def test_english_question_is_ltr(page) -> None:
    # a question whose answer takes several sentences ("who is the ambassador" is now answered by one)
    answer = ask(page, "What did the US ambassador say about North Korean troops?")
    question = page.locator(".rag-question").last
    assert direction(question) == "ltr"
    # the sentences came one by one: the page showed a partial answer before the final one
    assert answer.locator(".rag-sent").count() >= 2 and "rag-streaming" in phases(page)
    assert NAME in answer.inner_text() and direction(answer) == "rtl"   # an Arabic answer stays RTL
    page.screenshot(path=str(SHOTS / "04-english-question.png"))


def test_uploaded_markup_is_shown_as_text_and_never_runs(page, tmp_path: Path) -> None:
    evil = tmp_path / "حديقة الزيتون.txt"
    evil.write_text(MALICIOUS, encoding="utf-8")
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.locator('input[type="file"]').set_input_files(str(evil))
    add = sidebar.get_by_role("button", name="Add the files")
    add.wait_for(state="visible")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stSidebar] button')]"
        ".some(b => b.innerText.includes('Add the files') && !b.disabled)", timeout=30_000)
    add.click()
    ok = sidebar.locator(".rag-notice.rag-ok")
    ok.wait_for(state="visible", timeout=ANSWER_TIMEOUT_MS)
    assert "1 added" in ok.inner_text()
    ok.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "05-upload-done.png"))

    answer = ask(page, "متى افتتحت حديقة الزيتون الجديدة؟")
    assert "يوم الاثنين" in answer.inner_text() and answer.locator(".rag-cite").count() >= 1
    exp = open_citation(page, 1)
    passage = exp.locator(".rag-passage")
    text = passage.inner_text()
    assert "<script>window.__pwned=1</script>" in text                 # the markup, shown as text
    assert '<img src=x onerror="window.__pwned=1">' in text
    assert "<b>الجديدة</b>" in exp.locator(".rag-source").inner_text()
    assert passage.locator("script, img").count() == 0
    assert exp.locator(".rag-source b").count() == 0
    assert page.locator('[data-testid="stMainBlockContainer"] img[src="x"]').count() == 0
    page.wait_for_timeout(500)                                          # give an onerror its chance
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.screenshot(path=str(SHOTS / "06-malicious-article-as-text.png"))
