"""Read RSS 2.0 / Atom feed files (``.rss``, ``.atom``, ``.xml``) through **feedparser**: one article per entry.

A feed is re-saved every day with mostly the same entries, so an entry's identity is its own ``id``
(``<guid>``/``<id>``), else its link, never its position: re-reading tomorrow's feed adds only the new
entries and updates the edited ones (the update diffs origins by this id, as it does for JSONL ``id``s).
Feeds usually carry only a summary; when the entry's page was saved beside the feed (same folder, same
canonical URL), the page's full text is used instead.
"""
from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .dates import parse_date

__all__ = ["read_feed", "looks_like_feed"]

_PAGE_SUFFIXES = (".html", ".htm")
_DECLARED = re.compile(r"""^(\s*<\?xml\b[^>]*?)\s+encoding\s*=\s*["'][^"']*["']""")
_ROOT = re.compile(r"<(?:[\w-]+:)?(rss|feed|RDF)\b", re.I)
#: feedparser's complaints about declared-vs-real encodings: the text was already decoded, so harmless.
_HARMLESS = ("CharacterEncodingOverride", "NonXMLContentType")


def looks_like_feed(text: str) -> bool:
    """Is this XML an RSS/Atom/RDF feed? (its first element, after the prolog and comments)."""
    body = re.sub(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", "", text[:8192], flags=re.S)
    m = re.search(r"<[^\s!?/][^>]*>", body)
    return bool(m and _ROOT.match(m.group(0)))


def _iso(parsed: Any) -> str | None:
    """feedparser's UTC struct_time as ``YYYY-MM-DD``."""
    if not parsed:
        return None
    return time.strftime("%Y-%m-%d", time.gmtime(calendar.timegm(parsed)))


def _entry_text(entry: Any) -> str:
    """The entry's longest content (``content:encoded``/Atom content), else its summary, as text."""
    from .pages import fragment_text

    values = [c.get("value", "") for c in entry.get("content", []) or []]
    values.append(entry.get("summary", "") or "")
    best = max(values, key=len, default="")
    return fragment_text(best) if "<" in best else " ".join(best.split())


def _saved_pages(folder: Path) -> dict[str, Path]:
    """Canonical URL → page file, for the pages saved beside a feed (read cheaply, by pattern)."""
    from .articles import MAX_FILE_BYTES
    from .pages import page_url

    found: dict[str, Path] = {}
    try:
        candidates = sorted(p for p in folder.iterdir() if p.suffix.lower() in _PAGE_SUFFIXES and p.is_file())
    except OSError:
        return found
    for p in candidates:
        try:
            if p.stat().st_size > MAX_FILE_BYTES:
                continue
            head = p.read_bytes()[:65536].decode("utf-8", "replace")
        except OSError:
            continue
        if url := page_url(head):
            found.setdefault(_norm_url(url), p)
    return found


def _norm_url(url: str) -> str:
    return url.strip().rstrip("/").replace("http://", "https://", 1)


def read_feed(text: str, path: str) -> Iterator[Any]:
    """Yield an Article per entry; a feed feedparser cannot make sense of is one ReadError (nothing else),
    so the update keeps whatever this file had indexed before."""
    import feedparser

    from .articles import Article, ReadError, read_file

    if not looks_like_feed(text):
        yield ReadError(path, "not an RSS or Atom feed (the XML's first element is not <rss>, <feed> or <rdf:RDF>)")
        return
    # The text is already decoded (cp1256, UTF-16 … by decode_bytes): a declared encoding would make feedparser
    # decode it a second time (mojibake), so the declaration goes and feedparser gets UTF-8.
    text = _DECLARED.sub(r"\1", text, count=1)
    parsed = feedparser.parse(text.encode("utf-8"), sanitize_html=True, resolve_relative_uris=False)
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if problem is not None and type(problem).__name__ in _HARMLESS:
        problem = None
    if problem is not None:
        where = getattr(problem, "getLineNumber", lambda: None)()
        detail = getattr(problem, "getMessage", lambda: str(problem))()
        yield ReadError(path, f"malformed feed: {detail}", where)
        return  # partial entries of a broken feed would look like deletions of the rest
    feed = parsed.get("feed", {})
    site = " ".join(str(feed.get("title", "")).split()) or None
    pages: dict[str, Path] | None = None
    for position, entry in enumerate(parsed.entries):
        link = (entry.get("link") or "").strip() or None
        origin = (entry.get("id") or "").strip() or link
        if origin is None:
            yield ReadError(path, f"entry {position + 1} has neither an id nor a link; skipped")
            continue
        if link:
            pages = _saved_pages(Path(path).parent) if pages is None else pages
            if (page_file := pages.get(_norm_url(link))) is not None:
                page = next((a for a in read_file(page_file) if isinstance(a, Article)), None)
                if page is not None:  # the page's own article: stored once, with both origins
                    metadata = {**page.metadata, "full_text_from": page.path, "feed_entry": True}
                    yield Article(origin, page.title, page.text, page.date, page.source, page.url,
                                  path, position, metadata)
                    continue
        title = " ".join(str(entry.get("title", "")).split())
        body = _entry_text(entry) or title
        if not body:
            yield ReadError(path, f"entry {position + 1} ({origin}) has no title or text; skipped")
            continue
        # dict.get: feedparser's own lookup maps a missing "updated" to "published" with a DeprecationWarning
        date = _iso(dict.get(entry, "published_parsed")) or _iso(dict.get(entry, "updated_parsed"))
        raw = (dict.get(entry, "published") or dict.get(entry, "updated") or "").strip()
        metadata: dict[str, Any] = {"feed_entry": True}
        if not date and raw:
            date = parse_date(raw)  # Arabic month names feedparser does not know
            if not date:
                metadata["date_raw"] = raw
        authors = [a.get("name", "").strip() for a in entry.get("authors", []) or [] if a.get("name", "").strip()]
        if not authors and entry.get("author"):
            authors = [str(entry["author"]).strip()]
        if authors:
            metadata["authors"] = authors
        yield Article(origin, title, body, date, site, link, path, position, metadata)
