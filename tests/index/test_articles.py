"""Tests for index.articles (file readers, decoding) and index.dates (date parsing)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.articles import (
    MAX_FILE_BYTES,
    SUPPORTED_SUFFIXES,
    Article,
    DecodeError,
    ReadError,
    decode_bytes,
    iter_files,
    read_file,
    read_paths,
)
from index.dates import parse_date

SEED = Path(__file__).resolve().parents[2] / "seeds" / "000_512641a6fdf04b61.txt"
PHRASE = "السفيرة الأمريكية لدى الأمم المتحدة"


def write(path: Path, content: str | bytes) -> Path:
    """Write text as UTF-8 (or raw bytes) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    else:
        path.write_bytes(content)
    return path


def articles(items) -> list[Article]:
    return [x for x in items if isinstance(x, Article)]


def errors(items) -> list[ReadError]:
    return [x for x in items if isinstance(x, ReadError)]


# ---------------------------------------------------------------- seed layout
def test_seed_file_yields_two_separate_articles():
    out = list(read_file(SEED))
    assert errors(out) == []
    first, second = out
    lines = SEED.read_text(encoding="utf-8").split("\n")
    assert first.title == "أمريكا تعلق على مفاوضات روسيا وكوريا الشمالية: جديدة ومثيرة للقلق"
    assert first.date == "2023-08-31"
    assert first.source == "السومرية العراقية"
    assert first.text == "\n".join(lines[2:7])  # the 5 paragraphs between date and source lines
    assert len(first.text.split("\n")) == 5
    assert "حوَّلها" in first.text  # diacritics kept exactly
    assert "المصدر" not in first.text and "تاريخ النشر" not in first.text
    assert first.metadata == {}
    assert second.title == "شاركت في معارك كورسك.. كوريا الشمالية تؤكد رسميا إرسال قوات إلى روسيا"
    assert second.date is None  # a "read also" story is not the page's story
    assert second.source == "السومرية العراقية"
    assert second.metadata == {"source_from": "page"}
    assert second.text == "\n".join(lines[10:])
    assert second.text.startswith("أكدت كوريا الشمالية للمرة الأولى")
    assert (first.position, second.position) == (0, 1)
    assert first.path == SEED.as_posix() and Path(first.path).is_absolute()
    assert first.origin_id == f"{SEED.as_posix()}#0" and second.origin_id == f"{SEED.as_posix()}#1"
    assert first.url is None


def test_seed_copy_has_same_content_hash_but_different_origin(tmp_path):
    copy = tmp_path / "copy.txt"
    shutil.copy(SEED, copy)
    a, b = articles(read_file(SEED)), articles(read_file(copy))
    assert [x.content_hash for x in a] == [x.content_hash for x in b]
    assert a[0].content_hash != a[1].content_hash
    assert a[0].origin_id != b[0].origin_id
    assert len(a[0].content_hash) == 64 and int(a[0].content_hash, 16) >= 0
    assert a[0] != b[0]  # different provenance → different records


@pytest.mark.parametrize("marker", ["إقرأ أيضاً:", "اقرأ أيضا", "إقرأ ايضاً", "اقرا ايضا:", "اقرأ أيضًا :"])
def test_read_also_marker_variants_start_new_articles(tmp_path, marker):
    text = (f"عنوان الصفحة\nتاريخ النشر: 1 كانون الثاني 2024\nفقرة أولى.\nالمصدر: وكالة\n"
            f"{marker}\nعنوان ثان\nنص ثان.\n{marker}\nعنوان ثالث\nنص ثالث.\nسطر آخر.")
    out = list(read_file(write(tmp_path / "a.txt", text)))
    assert [a.title for a in out] == ["عنوان الصفحة", "عنوان ثان", "عنوان ثالث"]
    assert [a.text for a in out] == ["فقرة أولى.", "نص ثان.", "نص ثالث.\nسطر آخر."]
    assert [a.date for a in out] == ["2024-01-01", None, None]
    assert [a.source for a in out] == ["وكالة"] * 3
    assert [a.position for a in out] == [0, 1, 2]


def test_read_also_with_headline_on_marker_line_and_own_source(tmp_path):
    text = ("عنوان\nتاريخ النشر: 2023-08-31\nنص.\nالمصدر: أ\n"
            "اقرأ أيضا: خبر آخر\nنصه.\nالمصدر: ب\n"
            "اقرأ أيضا تقرير مفصل عن الموضوع في صفحة أخرى.")  # a sentence, not a marker
    out = list(read_file(write(tmp_path / "a.txt", text)))
    assert len(out) == 2
    assert out[1].title == "خبر آخر"
    assert out[1].source == "ب" and out[1].metadata == {}
    assert out[1].text == "نصه.\nاقرأ أيضا تقرير مفصل عن الموضوع في صفحة أخرى."


def test_seed_unparseable_date_kept_raw(tmp_path):
    out = list(read_file(write(tmp_path / "a.txt", "عنوان\nتاريخ النشر: قبل ساعة\nنص.")))
    assert out[0].date is None and out[0].metadata["date_raw"] == "قبل ساعة"


# ---------------------------------------------------------------- plain text / markdown
def test_plain_txt_title_and_text(tmp_path):
    out = list(read_file(write(tmp_path / "p.txt", "\n\n  العنوان  \nسطر أول\n\nسطر ثان\n")))
    assert len(out) == 1
    assert out[0].title == "العنوان"
    assert out[0].text == "سطر أول\n\nسطر ثان"
    assert out[0].date is None and out[0].source is None


def test_single_line_file_is_title_and_text(tmp_path):
    (a,) = read_file(write(tmp_path / "one.txt", "خبر من سطر واحد"))
    assert a.title == a.text == "خبر من سطر واحد"


def test_markdown_heading_stripped(tmp_path):
    (a,) = read_file(write(tmp_path / "n.md", "## عنوان الخبر ##\n\nالفقرة **الأولى**."))
    assert a.title == "عنوان الخبر"
    assert a.text == "الفقرة **الأولى**."
    (b,) = read_file(write(tmp_path / "c.md", "# أخبار C#\nنص"))
    assert b.title == "أخبار C#"


@pytest.mark.parametrize("content", ["", "   \n\t\n"])
def test_empty_file_is_an_error(tmp_path, content):
    (e,) = read_file(write(tmp_path / "e.txt", content))
    assert isinstance(e, ReadError) and e.message == "file is empty"


# ---------------------------------------------------------------- html
PAGE = """<!DOCTYPE html><html lang="ar"><head>
<title>عنوان التبويب | الموقع</title>
<meta property="og:title" content="عنوان الخبر">
<meta property="og:site_name" content="الموقع">
<meta property="article:published_time" content="2023-08-31T10:00:00+03:00">
<link rel="canonical" href="https://example.com/news/1">
<style>.x{color:red}</style><script>var secret = 1;</script>
</head><body>
<nav>القائمة</nav>
<article>
  <h1>عنوان الخبر</h1>
  <p>الفقرة   الأولى
     تكمل هنا.</p><!-- تعليق مخفي -->
  <p>الفقرة <b>الثانية</b><br>سطر بعد فاصل</p>
  <script>alert("x")</script><noscript>فعّل الجافاسكربت</noscript>
  <template><p>قالب</p></template><svg><text>رسم</text></svg><iframe>إطار</iframe>
  <div hidden>مخفي</div><span style="display: none">مخفي أيضا</span>
  <ul><li>بند ١</li><li>بند ٢</li></ul>
</article>
<footer>حقوق</footer></body></html>"""


def test_html_article_text_and_metadata(tmp_path):
    (a,) = read_file(write(tmp_path / "p.html", PAGE))
    assert a.title == "عنوان الخبر"
    assert a.text == "الفقرة الأولى تكمل هنا.\nالفقرة الثانية\nسطر بعد فاصل\nبند ١\nبند ٢"
    assert a.date == "2023-08-31"
    assert a.source == "الموقع"
    assert a.url == "https://example.com/news/1"
    assert a.metadata.get("lang") == "ar"
    for hidden in ("secret", "alert", "تعليق", "فعّل", "قالب", "رسم", "إطار", "مخفي", "القائمة", "حقوق"):
        assert hidden not in a.text


def test_html_fallbacks_h1_time_og_url_body(tmp_path):
    page = """<html><head><title>عنوان التبويب</title>
    <meta property="og:url" content="https://e.com/2"></head>
    <body><h1>عنوان   الرأس</h1><time datetime="2022-01-05">5 يناير</time><div>نص الجسم</div></body></html>"""
    (a,) = read_file(write(tmp_path / "p.htm", page))
    assert a.title == "عنوان الرأس"
    assert a.date == "2022-01-05"
    assert a.url == "https://e.com/2"
    # the h1 title is not repeated at the start; trafilatura also leaves the <time> line out of the story
    assert a.text == "نص الجسم"


def test_html_title_tag_fallback_and_meta_date(tmp_path):
    page = ('<html><head><title>عنوان فقط</title><meta name="date" content="31/08/2023"></head>'
            "<body><p>نص</p></body></html>")
    (a,) = read_file(write(tmp_path / "p.html", page))
    assert (a.title, a.text, a.date, a.source, a.url) == ("عنوان فقط", "نص", "2023-08-31", None, None)


def test_html_without_visible_text_is_an_error(tmp_path):
    (e,) = read_file(write(tmp_path / "p.html", "<html><body><script>x()</script></body></html>"))
    assert isinstance(e, ReadError) and "no visible text" in e.message


# ---------------------------------------------------------------- json / jsonl
def test_json_single_object_fields_and_metadata(tmp_path):
    rec = {"id": "n-1", "Title": " عنوان ", "date": "٣١ أغسطس ٢٠٢٣", "source": "وكالة",
           "body": "النص", "url": "https://e.com", "tags": ["a", "b"], "views": 3}
    (a,) = read_file(write(tmp_path / "one.json", json.dumps(rec, ensure_ascii=False)))
    assert a.origin_id == "n-1"
    assert (a.title, a.text, a.date, a.source, a.url) == ("عنوان", "النص", "2023-08-31", "وكالة", "https://e.com")
    assert a.metadata == {"tags": ["a", "b"], "views": 3}
    assert a.position == 0


def test_json_list_and_articles_wrapper(tmp_path):
    recs = [{"title": "أ", "text": "نص أ"}, {"title": "ب", "content": "نص ب"}]
    for name, data in (("list.json", recs), ("wrap.json", {"articles": recs})):
        out = list(read_file(write(tmp_path / name, json.dumps(data, ensure_ascii=False))))
        assert [(a.title, a.text, a.position) for a in out] == [("أ", "نص أ", 0), ("ب", "نص ب", 1)]
        assert out[1].origin_id.endswith(f"{name}#1")


@pytest.mark.parametrize("data,kind", [(42, "a number"), ('"خبر"', "a string"), ("null", "null")])
def test_json_that_is_not_an_object_names_what_it_is(tmp_path, data, kind):
    (e,) = read_file(write(tmp_path / "x.json", str(data)))
    assert isinstance(e, ReadError) and kind in e.message


def test_json_list_of_numbers_reports_each_item(tmp_path):
    out = list(read_file(write(tmp_path / "x.json", '[1, {"text": "نص"}, "s"]')))
    assert [type(x).__name__ for x in out] == ["ReadError", "Article", "ReadError"]
    assert "item 0" in out[0].message and "a number" in out[0].message
    assert "a string" in out[2].message and out[1].position == 1


def test_invalid_json_message_and_line(tmp_path):
    (e,) = read_file(write(tmp_path / "bad.json", '{\n"title": "a" "text": "b"}'))
    assert e.message == "not valid JSON: Expecting ',' delimiter (column 14)"
    assert e.line == 2
    assert str(e) == f"{e.path}:2: {e.message}"


def test_record_without_text_and_bad_field_types(tmp_path):
    data = [{"title": "بلا نص", "text": "  "}, {"title": ["x"], "text": "نص"}, {"text": "نص", "date": "أمس"}]
    out = list(read_file(write(tmp_path / "r.json", json.dumps(data, ensure_ascii=False))))
    assert isinstance(out[0], ReadError) and "record has no text" in out[0].message
    assert isinstance(out[1], ReadError) and "'title' is a list" in out[1].message
    assert out[2].date is None and out[2].metadata["date_raw"] == "أمس" and out[2].title == ""


def test_jsonl_bad_line_does_not_stop_the_others(tmp_path):
    lines = ['{"title": "أ", "text": "نص أ"}', '{"title": "ب", "text": ', "",
             '{"title": "ج", "text": "نص ج", "date": "2023/08/31"}', "[1]"]
    out = list(read_file(write(tmp_path / "f.jsonl", "\n".join(lines))))
    assert [type(x).__name__ for x in out] == ["Article", "ReadError", "Article", "ReadError"]
    assert out[1].line == 2 and out[1].message.startswith("not valid JSON:")
    assert [out[0].position, out[2].position] == [0, 3]  # blank line still counts as a line
    assert out[2].date == "2023-08-31"
    assert out[3].line == 5 and "a list" in out[3].message


# ---------------------------------------------------------------- csv
def test_csv_case_insensitive_header_quoted_newlines_and_errors(tmp_path):
    content = ('Title,TEXT,Date,Source,Category\n'
               'أ,"سطر أول\nسطر ثان",2023-08-31,وكالة,سياسة\n'
               'ب,نص ب,,,\n'
               'ج,نص,x,y,z,زائد\n'
               '\n'
               'د,,,,\n'
               'هـ,نص هـ,31-08-2023,,\n')
    out = list(read_file(write(tmp_path / "f.csv", content)))
    assert [type(x).__name__ for x in out] == ["Article", "Article", "ReadError", "ReadError", "Article"]
    assert out[0].text == "سطر أول\nسطر ثان" and out[0].metadata == {"Category": "سياسة"}
    assert out[0].date == "2023-08-31" and out[0].source == "وكالة"
    assert out[1].source is None and out[1].date is None
    assert out[2].line == 5 and "6 fields" in out[2].message  # the quoted newline spans lines 2-3
    assert out[3].line == 7 and "record has no text" in out[3].message
    assert out[4].title == "هـ" and out[4].date == "2023-08-31"
    assert [out[0].position, out[1].position, out[4].position] == [0, 1, 4]


def test_csv_semicolon_delimiter_and_cp1256(tmp_path):
    content = f"title;text\nعنوان;{PHRASE}\n".encode("cp1256")
    (a,) = read_file(write(tmp_path / "f.csv", content))
    assert (a.title, a.text) == ("عنوان", PHRASE)


def test_csv_without_text_column(tmp_path):
    (e,) = read_file(write(tmp_path / "f.csv", "title,date\nأ,2023-01-01\n"))
    assert isinstance(e, ReadError) and e.line == 1 and "no text column" in e.message


# ---------------------------------------------------------------- decoding
@pytest.mark.parametrize("encoding", ["cp1256", "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"])
def test_decode_round_trips_arabic_exactly(encoding):
    text = f"{PHRASE}\nسطر ثان، مع علامات: «اقتباس»؟"
    assert decode_bytes(text.encode(encoding)) == text


def test_decode_utf16_with_explicit_boms():
    assert decode_bytes(b"\xff\xfe" + PHRASE.encode("utf-16-le")) == PHRASE
    assert decode_bytes(b"\xfe\xff" + PHRASE.encode("utf-16-be")) == PHRASE


def test_decode_utf8_wins_over_cp1256_when_bytes_are_valid_utf8():
    # Accepted ambiguity: a two-byte cp1256 snippet can be valid UTF-8; UTF-8 is preferred.
    assert decode_bytes("آ،".encode("cp1256")) == "¡"
    assert decode_bytes("¡Hola señor! Ê".encode("utf-8")) == "¡Hola señor! Ê"


def test_decode_strips_bom_and_normalizes_line_endings():
    assert decode_bytes("\ufeffأ\r\nب\rج\n".encode("utf-8")) == "أ\nب\nج\n"
    assert decode_bytes("أ\r\nب".encode("utf-16")) == "أ\nب"


def test_decode_truncated_utf8_tail_is_dropped():
    data = PHRASE.encode("utf-8")
    assert decode_bytes(data[:-1]) == PHRASE[:-1]


def test_decode_utf16_without_bom_and_few_spaces():
    assert decode_bytes("ءء ءء".encode("utf-16-le")) == "ءء ءء"
    assert decode_bytes(f"{PHRASE}\n".encode("utf-16-be")) == f"{PHRASE}\n"


def test_decode_broken_byte_inside_utf8_is_marked_not_misread():
    data = PHRASE.encode("utf-8")
    broken = data[:10] + b"\xff" + data[10:]
    assert decode_bytes(broken) == PHRASE[:5] + "\ufffd" + PHRASE[5:]


def test_decode_rejects_binary():
    with pytest.raises(DecodeError, match="looks like a binary file, not text"):
        decode_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(DecodeError, match="binary"):
        decode_bytes(b"\x01\x02\x03\x04\x05\x06\x07\x08abc" * 20)
    assert issubclass(DecodeError, ValueError)


def test_cp1256_file_reads_without_mojibake(tmp_path):
    content = f"عنوان الخبر\nتاريخ النشر: 31 آب 2023\n{PHRASE}\nالمصدر: وكالة".encode("cp1256")
    (a,) = read_file(write(tmp_path / "legacy.txt", content))
    assert (a.title, a.text, a.date, a.source) == ("عنوان الخبر", PHRASE, "2023-08-31", "وكالة")


ARABIC_LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأؤإئةى"


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=ARABIC_LETTERS + " .،\n", min_size=2, max_size=200).filter(
    lambda s: any(a in ARABIC_LETTERS and b in ARABIC_LETTERS for a, b in zip(s, s[1:]))))
def test_decode_property_arabic_round_trips_in_every_supported_encoding(text):
    """Any text holding at least one real word (two adjacent letters) round-trips."""
    for encoding in ("utf-8", "utf-8-sig", "utf-16", "cp1256"):
        assert decode_bytes(text.encode(encoding)) == text


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=200))
def test_decode_property_any_utf8_text_round_trips(text):
    assert decode_bytes(text.encode("utf-8")) == text.lstrip("\ufeff")


# ---------------------------------------------------------------- files and folders
def test_read_error_str():
    assert str(ReadError("/a/b.jsonl", "bad", 3)) == "/a/b.jsonl:3: bad"
    assert str(ReadError("/a/b.txt", "file is empty")) == "/a/b.txt: file is empty"


def test_too_large_file_names_the_limit(tmp_path):
    big = tmp_path / "big.txt"
    with big.open("wb") as f:
        f.truncate(int(52.4 * 1024 * 1024))  # sparse: no real 52 MB written
    (e,) = read_file(big)
    assert e.message == "file is 52.4 MiB, over the 20 MiB limit"
    assert MAX_FILE_BYTES == 20 * 1024 * 1024


def test_binary_txt_file_is_reported_not_raised(tmp_path):
    (e,) = read_file(write(tmp_path / "x.txt", bytes(range(256)) * 8))
    assert isinstance(e, ReadError) and "binary" in e.message


def test_read_paths_walks_sorted_skips_hidden_and_unsupported(tmp_path):
    root = tmp_path / "archive"
    write(root / "b.txt", "ب\nنص ب")
    write(root / "a" / "z.md", "# ز\nنص ز")
    write(root / "a.txt", "أ\nنص أ")
    write(root / ".hidden.txt", "مخفي\nنص")
    write(root / ".git" / "c.txt", "مخفي\nنص")
    write(root / "notes.pdf", b"%PDF-1.4")
    write(root / "bad.json", "{oops")
    out = list(read_paths([root]))
    assert [Path(x.path).relative_to(root.resolve()).as_posix() for x in out] == [
        "a/z.md", "a.txt", "b.txt", "bad.json"]
    assert [type(x).__name__ for x in out] == ["Article", "Article", "Article", "ReadError"]


def test_iter_files_lists_what_read_paths_reads(tmp_path):
    write(tmp_path / "d" / "b.jsonl", '{"text": "نص"}')
    write(tmp_path / "d" / "a.csv", "text\nنص\n")
    write(tmp_path / "d" / "skip.png", b"\x89PNG")
    out = list(iter_files([tmp_path / "d", tmp_path / "d" / "a.csv", tmp_path / "gone"]))
    assert [p.name for p in out[:2]] == ["a.csv", "b.jsonl"] and len(out) == 3
    assert isinstance(out[2], ReadError) and out[2].path == (tmp_path / "gone").resolve().as_posix()


def test_pathological_content_is_reported_not_raised(tmp_path):
    (e,) = read_file(write(tmp_path / "deep.json", "[" * 100_000 + "]" * 100_000))
    assert isinstance(e, ReadError) and "could not parse the file" in e.message


def test_read_paths_missing_unsupported_and_duplicates(tmp_path):
    good = write(tmp_path / "g.txt", "عنوان\nنص")
    pdf = write(tmp_path / "doc.pdf", b"%PDF")
    out = list(read_paths([tmp_path / "missing", pdf, good, str(good), tmp_path]))
    assert isinstance(out[0], ReadError) and "no such file" in out[0].message
    assert isinstance(out[1], ReadError) and "unsupported file type '.pdf'" in out[1].message
    assert len(articles(out)) == 1  # the same file named three ways is read once
    assert articles(out)[0].path == good.resolve().as_posix()


def test_read_file_given_a_folder_or_missing_path(tmp_path):
    (e,) = read_file(tmp_path)
    assert "folder" in e.message
    (e,) = read_file(tmp_path / "nope.txt")
    assert e.message == "no such file or folder"
    assert ".csv" in SUPPORTED_SUFFIXES and ".jsonl" in SUPPORTED_SUFFIXES


def test_article_is_frozen_and_metadata_not_compared(tmp_path):
    a = Article("i", "t", "x", None, None, None, "/p", 0, {"k": 1})
    b = Article("i", "t", "x", None, None, None, "/p", 0, {"k": 2})
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.title = "other"  # type: ignore[misc]


# ---------------------------------------------------------------- dates
@pytest.mark.parametrize("value,expected", [
    ("31st, August 2023 GMT", "2023-08-31"),
    ("August 31, 2023", "2023-08-31"),
    ("31 August 2023", "2023-08-31"),
    ("Thu, 31 Aug. 2023 10:00:00 GMT", "2023-08-31"),
    ("2023-08-31", "2023-08-31"),
    ("2023-08-31T10:00:00Z", "2023-08-31"),
    ("2023/08/31", "2023-08-31"),
    ("31/08/2023", "2023-08-31"),
    ("31-08-2023", "2023-08-31"),
    ("01/02/2023", "2023-02-01"),  # day first
    ("٣١ أغسطس ٢٠٢٣", "2023-08-31"),
    ("الخميس 31 آب/أغسطس 2023 - 10:00", "2023-08-31"),
    ("1 كانون الثاني 2024", "2024-01-01"),
    ("15 كانون الأول 2022", "2022-12-15"),
    ("5 تشرين الأول 2023", "2023-10-05"),
    ("5 تشرين الثاني 2023", "2023-11-05"),
    ("12 جويلية 2022", "2022-07-12"),
    ("3 ماي 2021", "2021-05-03"),
    ("4 مايو 2021", "2021-05-04"),
    ("2 أوت 2020", "2020-08-02"),
    ("10 أفريل 2020", "2020-04-10"),
    ("10 ابريل 2020", "2020-04-10"),
    ("30 يونيه 2023", "2023-06-30"),
    ("۱۲ اکتوبر ۲۰۲۱", None),  # Persian kaf spelling is not a month we know
    ("12 أكتوبر ۲۰۲۱", "2021-10-12"),  # extended Arabic-Indic digits
    ("31 February 2023", None),
    ("31/02/2023", None),
    ("قبل ساعة", None),
    ("", None),
    ("2023", None),
])
def test_parse_date(value, expected):
    assert parse_date(value) == expected


AR_MONTHS = ["يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر",
             "أكتوبر", "نوفمبر", "ديسمبر"]
LEVANT = ["كانون الثاني", "شباط", "آذار", "نيسان", "أيار", "حزيران", "تموز", "آب", "أيلول",
          "تشرين الأول", "تشرين الثاني", "كانون الأول"]
MAGHREB = ["جانفي", "فيفري", "مارس", "أفريل", "ماي", "جوان", "جويلية", "أوت", "سبتمبر",
           "أكتوبر", "نوفمبر", "ديسمبر"]


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)), st.integers(0, 6))
def test_parse_date_property_every_style_round_trips(day, style):
    indic = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
    written = [
        day.isoformat(),
        f"{day.day:02d}/{day.month:02d}/{day.year}",
        day.strftime("%A, %d %B %Y"),
        day.strftime("%B %d, %Y 10:00 GMT"),
        f"{day.day} {AR_MONTHS[day.month - 1]} {day.year}".translate(indic),
        f"الأحد {day.day} {LEVANT[day.month - 1]} {day.year}",
        f"{day.day} {MAGHREB[day.month - 1]} {day.year}",
    ][style]
    assert parse_date(written) == day.isoformat()


# ---------------------------------------------------------------- gzip, skipped types, .ragignore, --exclude
def gz(path: Path, content: str | bytes) -> Path:
    import gzip

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(content.encode("utf-8") if isinstance(content, str) else content))
    return path


def test_gzip_files_of_every_supported_type_are_read(tmp_path):
    lines = "\n".join(json.dumps({"id": f"n{i}", "title": f"عنوان {i}", "text": f"نص الخبر {i}",
                                  "source": "الأهرام"}, ensure_ascii=False) for i in range(3))
    out = articles(read_file(gz(tmp_path / "feed.JSONL.gz", lines)))
    assert [a.origin_id for a in out] == ["n0", "n1", "n2"] and out[0].source == "الأهرام"
    (txt,) = articles(read_file(gz(tmp_path / "a.txt.gz", "العنوان\nالنص")))
    assert (txt.title, txt.text) == ("العنوان", "النص")
    (csv_a,) = articles(read_file(gz(tmp_path / "b.csv.gz", "title,text\nع,ن\n")))
    assert csv_a.text == "ن"
    (page,) = articles(read_file(gz(tmp_path / "c.html.gz", "<html><body><h1>ع</h1><p>نص الصفحة</p></body></html>")))
    assert page.text == "نص الصفحة"


def test_gzip_bomb_is_refused_with_the_limit_named(tmp_path):
    bomb = gz(tmp_path / "bomb.jsonl.gz", b"\n" * (MAX_FILE_BYTES + 10))
    assert bomb.stat().st_size < 100_000  # small on disk, 20 MB+ inflated
    (e,) = read_file(bomb)
    assert isinstance(e, ReadError) and "20 MiB limit" in e.message and "uncompressed" in e.message


def test_broken_gzip_is_a_read_error(tmp_path):
    (e,) = read_file(write(tmp_path / "x.jsonl.gz", b"not gzip at all"))
    assert isinstance(e, ReadError) and "gzip" in e.message
    full = gzip_bytes = __import__("gzip").compress(("{\"text\": \"نص\"}\n" * 200).encode())
    (e,) = read_file(write(tmp_path / "cut.jsonl.gz", full[: len(gzip_bytes) // 2]))
    assert isinstance(e, ReadError) and "gzip" in e.message


def test_walk_counts_skipped_files_by_type(tmp_path):
    from index.articles import WalkStats

    root = tmp_path / "archive"
    write(root / "a.txt", "ع\nن")
    for name in ("x.pdf", "y.pdf", "sub/z.PDF", "r.docx", "backup.tar.gz", "README"):
        write(root / name, b"\x00")
    gz(root / "feed.jsonl.gz", '{"text": "نص"}')
    stats = WalkStats()
    files = list(iter_files([root], stats=stats))
    assert sorted(p.name for p in files) == ["a.txt", "feed.jsonl.gz"]
    assert stats.skipped_types == {".pdf": 3, ".docx": 1, ".tar.gz": 1, "(none)": 1}
    assert stats.describe() == "skipped by type: .pdf: 3, (none): 1, .docx: 1, .tar.gz: 1"


def test_ragignore_and_exclude_patterns(tmp_path):
    from index.articles import WalkStats

    root = tmp_path / "archive"
    for name in ("keep.txt", "drafts/d.txt", "2020/old.csv", "2020/keep.csv", "2021/n.jsonl", "2021/tmp/t.txt"):
        write(root / name, "text\nنص\n")
    write(root / ".ragignore", "drafts/\n*.csv\n!keep.csv\n")
    write(root / "2021" / ".ragignore", "tmp/\n")
    stats = WalkStats()
    rel = [p.relative_to(root).as_posix() for p in iter_files([root], stats=stats)]
    assert rel == ["2020/keep.csv", "2021/n.jsonl", "keep.txt"]
    assert stats.excluded == 3  # drafts/, 2020/old.csv, 2021/tmp/
    stats = WalkStats()
    rel = [p.relative_to(root).as_posix() for p in iter_files([root], exclude=["2021/", "keep.txt"], stats=stats)]
    assert rel == ["2020/keep.csv"] and stats.excluded == 4
    # a file named explicitly is read whatever the ignore rules say
    assert [p.name for p in iter_files([root / "drafts" / "d.txt"])] == ["d.txt"]
