"""Read a saved news web page (``.html``/``.htm``) as its main text plus the page's metadata.

A real news page is mostly not the story: menus, "related stories", share buttons, cookie banners,
comments and footers. Kept, they become passages that are retrieved and quoted, so pages go through
**trafilatura** (main-content extraction, Arabic-aware) and only the story's paragraphs are indexed.
When trafilatura finds no main text (a tiny page, an odd layout) the page is read by the older
"visible text" reader instead, and the article says so (``metadata["extractor"] == "fallback"``).

trafilatura (with lxml) takes about a second to import: it is imported here, lazily, only when a page
is read, never on the ``rag ask`` path.
"""
from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from typing import Any

from .dates import parse_date

__all__ = ["read_page", "page_url", "fragment_text"]

#: Sort order of the page's own date claims (explicit metadata first); trafilatura's own guess comes after.
_DATE_META = ("article:published_time", "datepublished", "og:published_time", "pubdate", "publishdate",
              "date", "dc.date", "dc.date.issued", "article:modified_time", "datemodified")
_LD_SCRIPT = re.compile(r"<script[^>]+application/ld\+json[^>]*>(.*?)</script>", re.S | re.I)
_CANONICAL = re.compile(r"<link\b[^>]*\brel=[\"']?canonical[\"']?[^>]*>", re.I)
_OG_URL = re.compile(r"<meta\b[^>]*\bproperty=[\"']og:url[\"'][^>]*>", re.I)
_HREF = re.compile(r"\b(?:href|content)=[\"']([^\"']+)[\"']", re.I)


def page_url(html: str) -> str | None:
    """The page's canonical URL (``<link rel=canonical>``, else ``og:url``), found cheaply by pattern.

    The feed reader asks this of every page beside a feed to find an entry's saved page; parsing each
    page fully just to learn its URL would cost a trafilatura run per page per feed read."""
    for pattern in (_CANONICAL, _OG_URL):
        if (tag := pattern.search(html)) and (href := _HREF.search(tag.group(0))):
            return href.group(1).strip() or None
    return None


def _json_ld_dates(html: str) -> list[str]:
    """``datePublished`` (then ``dateModified``) of the page's JSON-LD objects, in page order."""
    published: list[str] = []
    modified: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key, out in (("datePublished", published), ("dateCreated", published), ("dateModified", modified)):
                if isinstance(node.get(key), str):
                    out.append(node[key])
            for value in node.values():
                if isinstance(value, (dict, list)):
                    walk(value)

    for block in _LD_SCRIPT.findall(html):
        try:
            walk(json.loads(block.strip()))
        except ValueError:
            continue  # a broken JSON-LD block is common and says nothing about the story
    return published + modified


def _meta_dates(html: str) -> list[str]:
    """Date-like ``<meta>`` values and the first ``<time>``, in :data:`_DATE_META` order."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    meta: dict[str, str] = {}
    for tag in soup.find_all("meta", content=True):
        key = str(tag.get("property") or tag.get("name") or tag.get("itemprop") or "").strip().lower()
        meta.setdefault(key, str(tag["content"]).strip())
    found = [meta[k] for k in _DATE_META if meta.get(k)]
    if time_tag := soup.find("time"):
        found.append(str(time_tag.get("datetime") or time_tag.get_text(" ")).strip())
    return found


def _page_date(html: str, extracted: str | None) -> tuple[str | None, str | None]:
    """(ISO date, raw text when nothing parsed). The page's own claims are read with our parser, which
    knows Arabic month names and digits (htmldate, trafilatura's date finder, does not); trafilatura's
    date is the last resort."""
    raw = [d.strip() for d in (*_json_ld_dates(html), *_meta_dates(html), extracted or "") if d and d.strip()]
    date = next((d for d in map(parse_date, raw) if d), None)
    return date, (raw[0] if raw and not date else None)


def fragment_text(html: str) -> str:
    """An HTML fragment (a feed entry's content) as text, one line per paragraph/block."""
    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

    from .articles import block_lines

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(["script", "style", "noscript", "template", "svg", "iframe"]):
        tag.decompose()
    return "\n".join(block_lines(soup))


#: Hidden markup trafilatura would keep: not shown to a reader, so not part of the story.
_HIDDEN = ("//template | //noscript | //*[@hidden] | //*[@aria-hidden='true']"
           " | //*[contains(translate(@style, ' ', ''), 'display:none')]")


def _tree(html: str) -> Any:
    import trafilatura

    tree = trafilatura.load_html(html)
    if tree is not None:
        for node in tree.xpath(_HIDDEN):
            parent = node.getparent()
            if parent is None:
                continue
            if node.tail:  # lxml's remove() drops the text after the element too: keep it
                prev = node.getprevious()
                if prev is not None:
                    prev.tail = (prev.tail or "") + node.tail
                else:
                    parent.text = (parent.text or "") + node.tail
            parent.remove(node)
    return tree


def _extract(html: str) -> Any:
    """trafilatura's main text and metadata (None when it finds no main text).

    Below its minimum size (250 characters) trafilatura "rescues" a short page with a dump of the whole
    page (menus, scripts' <noscript> and all, run together on one line); for those pages the precision
    mode, which never dumps, is asked instead, and the page falls back to our reader if that finds nothing."""
    import logging

    import trafilatura
    from trafilatura.settings import DEFAULT_CONFIG

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)  # "discarding data" chatter is not the user's
    options = dict(with_metadata=True, include_comments=False, include_tables=True, include_images=False,
                   include_links=False, deduplicate=False)
    tree = _tree(html)
    if tree is None:
        return None
    doc = trafilatura.bare_extraction(tree, **options)
    minimum = DEFAULT_CONFIG.getint("DEFAULT", "MIN_EXTRACTED_SIZE", fallback=250)
    if doc is None or len(getattr(doc, "text", "") or "") < minimum:
        doc = trafilatura.bare_extraction(_tree(html), favor_precision=True, **options)
    return doc


_BULLET = re.compile(r"^[-•*]\s+")


def read_page(text: str, path: str) -> Iterator[Any]:
    """The main story of a saved page as one :class:`~index.articles.Article` (or a ReadError)."""
    from .articles import Article, _collapse, _read_html

    doc = _extract(text)
    body = (getattr(doc, "text", None) or "") if doc is not None else ""
    lines = [c for c in (_BULLET.sub("", _collapse(line)) for line in body.split("\n")) if c]
    title = _collapse(getattr(doc, "title", None) or "") if doc is not None else ""
    while lines and title and lines[0] == title:  # the headline is the title, not the text
        lines.pop(0)
    if not lines:
        for item in _read_html(text, path):
            if isinstance(item, Article):
                item.metadata["extractor"] = "fallback"
            yield item
        return
    date, date_raw = _page_date(text, getattr(doc, "date", None))
    metadata: dict[str, Any] = {"extractor": "trafilatura"}
    if date_raw:
        metadata["date_raw"] = date_raw
    if author := _collapse(getattr(doc, "author", None) or ""):
        metadata["authors"] = [a.strip() for a in author.split(";") if a.strip()]
    if lang := re.search(r"<html\b[^>]*\blang=[\"']?([\w-]+)", text[:4096], re.I):
        metadata["lang"] = lang.group(1)
    if not title:
        for item in _read_html(text, path):  # trafilatura found the story but no headline: use the markup's
            title = getattr(item, "title", "") or ""
            break
    yield Article(f"{path}#0", title, "\n".join(lines), date, _collapse(getattr(doc, "sitename", None) or "") or None,
                  page_url(text) or (getattr(doc, "url", None) or None), path, 0, metadata)


def read_mhtml(text: str, path: str) -> Iterator[Any]:
    """A page saved by a browser as one file (``.mhtml``/``.mht``: MIME, the HTML part quoted-printable or
    base64): its first text/html part, read as a page."""
    import email
    import email.policy

    from .articles import DecodeError, ReadError, decode_bytes

    message = email.message_from_string(text, policy=email.policy.compat32)
    part = next((p for p in message.walk() if p.get_content_type() == "text/html"), None)
    if part is None:
        yield ReadError(path, "MHTML file has no text/html part")
        return
    data = part.get_payload(decode=True) or b""
    charset = part.get_content_charset()
    try:
        html = data.decode(charset) if charset else decode_bytes(data)
    except (LookupError, UnicodeDecodeError, DecodeError):
        try:
            html = decode_bytes(data)
        except DecodeError as e:
            yield ReadError(path, f"the page inside the MHTML file: {e}")
            return
    yield from read_page(html, path)
