"""Read news files (seed .txt, .md, .html, .json, .jsonl, .csv, RSS/Atom feeds, each also gzip-compressed) into :class:`Article`s.

Archives are messy: legacy Arabic encodings, half-broken JSON lines, saved web pages. The
readers never raise for bad content; they yield :class:`ReadError` next to the good articles,
so one bad file or line never stops an index build and the user is told exactly where it is.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import warnings
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup, Comment, MarkupResemblesLocatorWarning

from .dates import parse_date

__all__ = ["Article", "ReadError", "DecodeError", "SUPPORTED_SUFFIXES", "MAX_FILE_BYTES", "IGNORE_FILE",
           "WalkStats", "count_articles", "read_file", "read_paths", "iter_files", "decode_bytes", "file_type", "is_supported"]

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".mhtml", ".mht", ".json", ".jsonl", ".csv", ".rss", ".atom",
                      ".xml")
#: Any supported file may also be gzip-compressed (``articles.jsonl.gz``): archives are shipped that way.
GZIP_SUFFIX = ".gz"
#: Applies to the decompressed size too: a small gzip that inflates to gigabytes (a "bomb") is refused.
MAX_FILE_BYTES = 20 * 1024 * 1024
#: gitignore-syntax file, honoured in every indexed folder (patterns relative to the folder it is in).
IGNORE_FILE = ".ragignore"
_MB = 1024 * 1024


@dataclass(frozen=True)
class Article:
    """One news story, with enough provenance (path, position) to cite it."""

    origin_id: str
    title: str
    text: str
    date: str | None
    source: str | None
    url: str | None
    path: str
    position: int
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def content_hash(self) -> str:
        """Same story in two files → same hash, so it is stored (and embedded) once."""
        canon = json.dumps([self.title, self.text, self.date, self.source, self.url],
                           ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canon.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ReadError:
    """A problem with one file or line, reported instead of raised so reading goes on."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


class DecodeError(ValueError):
    """The bytes are not text in any encoding we can trust."""


# ---------------------------------------------------------------- decoding
_BINARY = "looks like a binary file, not text"
_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),  # before UTF-16
         (b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")  # Cc minus \t \n \v \f \r
_ARABICISH = re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff«»–—‘’“”…•×÷"
                        "\u00a0\u200c-\u200f]")


def _non_ascii(text: str) -> int:
    return len(text) - len(text.encode("ascii", "ignore"))


def _looks_binary(text: str) -> bool:
    """Real text has almost no control characters besides tab/newline/form feed."""
    return len(_CONTROL.findall(text)) > max(2, len(text) // 20)


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 has NULs (high bytes of spaces, digits) on one byte parity only, and its high
    bytes cluster on 0x00 plus one script block (0x06 for Arabic); binary data does not."""
    even, odd = data[0::2].count(0), data[1::2].count(0)
    if len(data) % 2 or min(even, odd) * 10 > max(even, odd):
        return None
    high = data[1::2] if odd > even else data[0::2]
    if sum(n for _, n in Counter(high).most_common(2)) < 0.9 * len(high):
        return None
    try:
        text = data.decode("utf-16-le" if odd > even else "utf-16-be")
    except UnicodeDecodeError:
        return None
    return None if _looks_binary(text) else text


def _utf8(data: bytes) -> str | None:
    """Strict UTF-8; a character cut off at the very end is dropped, a few broken bytes
    inside mostly-valid UTF-8 become U+FFFD (better than misreading the whole file)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.end == len(data) and e.reason == "unexpected end of data":
            return data[: e.start].decode("utf-8")
    loose = data.decode("utf-8", errors="replace")
    bad = loose.count("\ufffd")
    return loose if _non_ascii(loose) - bad >= 10 * bad else None


_ASCII = bytes(range(128))
_CP1256_ARABIC = bytes(b for b in range(128, 256) if _ARABICISH.match(bytes([b]).decode("cp1256", "replace")))


def _cp1256(data: bytes) -> str | None:
    """Windows Arabic, accepted only when its non-ASCII bytes read as Arabic script
    (counted on bytes with C-level translate: a per-character scan of 20 MB is slow)."""
    high = data.translate(None, _ASCII)
    arabic = len(high) - len(high.translate(None, _CP1256_ARABIC))
    return data.decode("cp1256", errors="replace") if arabic and arabic >= 0.9 * len(high) else None


def decode_bytes(data: bytes) -> str:
    """Decode a news file's bytes to text with ``\\n`` line ends, or raise :class:`DecodeError`.

    Order matters: BOMs are certain, UTF-16 shows itself by NULs, strict UTF-8 does not match
    real cp1256 Arabic by accident (adjacent letters are two lead bytes; only degenerate
    snippets like "آ،" are ambiguous, and UTF-8 wins), and charset-normalizer only guesses.
    """
    if not data:
        return ""
    text: str | None = None
    for bom, codec in _BOMS:
        if data.startswith(bom):
            body = data[len(bom):]
            try:
                text = _utf8(body) if codec == "utf-8" else body.decode(codec)
            except UnicodeDecodeError:
                text = None
            if text is None:
                raise DecodeError(f"starts with a {codec.upper()} byte-order mark but is not valid {codec.upper()}")
            break
    if text is None and b"\x00" in data:
        text = _utf16_without_bom(data)
        if text is None:
            raise DecodeError(_BINARY)
    if text is None:
        text = _utf8(data) or _cp1256(data)
    if text is None:
        from charset_normalizer import from_bytes  # slow to import; rarely needed

        best = from_bytes(data).best()
        if best is None:
            raise DecodeError("could not tell the text encoding (not UTF-8, UTF-16 or Windows-1256)")
        text = str(best)
    if _looks_binary(text):
        raise DecodeError(_BINARY)
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------- records (json, jsonl, csv)
_TEXT_KEYS = ("text", "body", "content")
_KNOWN = {"title", "date", "source", "url", "id", *_TEXT_KEYS}


_KINDS = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number",
          bool: "true/false", type(None): "null"}  # JSON types in plain words, for messages


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)


def _field_str(value: Any, name: str) -> str | None:
    """A field as stripped text (None when missing/empty); a list or object is an error."""
    if isinstance(value, (dict, list)):
        raise ValueError(f"field '{name}' is {_kind(value)}, not text")
    return None if value is None else str(value).strip() or None


def _record(rec: Any, path: str, position: int, line: int | None, label: str = "") -> Article | ReadError:
    """Map one JSON object / CSV row onto an Article; every other field goes to metadata."""
    if not isinstance(rec, dict):
        return ReadError(path, f"{label}expected a JSON object (one article), got {_kind(rec)}", line)
    known: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    for key, value in rec.items():
        low = str(key).strip().lower()
        if low in _KNOWN and low not in known:
            known[low] = value
        else:
            metadata[str(key)] = value
    try:
        fields = {k: _field_str(v, k) for k, v in known.items()}
    except ValueError as e:
        return ReadError(path, f"{label}{e}", line)
    text_key = next((k for k in _TEXT_KEYS if fields.get(k)), None)
    if text_key is None:
        return ReadError(path, f"{label}record has no text", line)
    metadata.update({k: known[k] for k in _TEXT_KEYS if k in known and k != text_key})
    date = parse_date(fields["date"]) if fields.get("date") else None
    if fields.get("date") and date is None:
        metadata.setdefault("date_raw", fields["date"])
    return Article(fields.get("id") or f"{path}#{position}", fields.get("title") or "",
                   fields[text_key], date, fields.get("source"), fields.get("url"),
                   path, position, metadata)


def article_from_record(rec: Any, path: str, position: int, label: str = "") -> Article | ReadError:
    """One JSON object mapped exactly as the JSON/JSONL readers map a record (``id``, ``title``, ``text`` /
    ``body`` / ``content``, ``date``, ``source``, ``url``; every other field is metadata), for articles that
    arrive without a file (the HTTP API's ``POST /v1/articles``)."""
    return _record(rec, path, position, None, label)


def _read_json(text: str, path: str) -> Iterator[Article | ReadError]:
    """One object, a list of objects, or {"articles": [...]}; syntax errors carry their line."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        yield ReadError(path, f"not valid JSON: {e.msg} (column {e.colno})", e.lineno)
        return
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        data = data["articles"]
    if isinstance(data, dict):
        yield _record(data, path, 0, None)
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield _record(item, path, i, None, label=f"item {i}: ")
    else:
        yield ReadError(path, f"expected a JSON object or a list of objects, got {_kind(data)}")


def _read_jsonl(text: str, path: str) -> Iterator[Article | ReadError]:
    """One object per line; position = 0-based line index so ids survive a fixed bad line."""
    for i, line in enumerate(text.split("\n")):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            yield ReadError(path, f"not valid JSON: {e.msg} (column {e.colno})", i + 1)
            continue
        yield _record(rec, path, i, i + 1)


def _read_csv(text: str, path: str) -> Iterator[Article | ReadError]:
    """Header row, then one article per row; delimiter (, ; tab |) = the header's commonest."""
    delimiter = max(",;\t|", key=text.split("\n", 1)[0].count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader, [])]
    except csv.Error as e:
        yield ReadError(path, f"bad CSV header: {e}", 1)
        return
    if not {h.lower() for h in header} & set(_TEXT_KEYS):
        yield ReadError(path, "CSV header has no text column (expected one of: text, body, content)", 1)
        return
    position = 0  # 0-based data row, blank rows not counted; rows span lines when quoted
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield ReadError(path, f"bad CSV row: {e}", start)
            if reader.line_num < start:  # no progress: stop rather than loop forever
                return
            position += 1
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):  # an unquoted delimiter shifted the columns
            yield ReadError(path, f"row has {len(row)} fields but the header has {len(header)}", start)
        else:
            yield _record(dict(zip(header, row)), path, position, start)
        position += 1


# ---------------------------------------------------------------- plain text, seed layout
_TASHKEEL = re.compile("[\u064b-\u065f\u0670\u0640]")
# The marker alone (colon optional), or marker + colon + a headline on the same line; a
# sentence that merely starts with the words ("اقرأ أيضا تقرير ...") is not a marker.
_READ_ALSO = re.compile(r"^[اأإآ]قر[اأإآء]\s*[اأإآ]يضا\s*(?:[:：]\s*(.*))?$")
_DATE_LINE = re.compile(r"^تاريخ\s+النشر\s*[:：]\s*(.*)$")
_SOURCE_LINE = re.compile(r"^المصدر\s*[:：]\s*(.*)$")


def _read_also(line: str) -> str | None:
    """For an "اقرأ أيضاً:" line, what follows the marker (maybe ""); else None."""
    m = _READ_ALSO.match(_TASHKEEL.sub("", line))
    return None if m is None else (m.group(1) or "").strip()


def _read_seed(lines: list[str], path: str) -> Iterator[Article]:
    """Title line, "تاريخ النشر:" date, "المصدر:" source; each "اقرأ أيضاً" starts another story."""
    sections: list[list[str]] = [[]]
    for line in lines:
        if (after := _read_also(line)) is None:
            sections[-1].append(line)
        else:
            sections.append([after] if after else [])
    page_source: str | None = None
    for position, (title, *rest) in enumerate(s for s in sections if s):
        body: list[str] = []
        date_raw = source = None
        for line in rest:
            if (m := _DATE_LINE.match(line)) and date_raw is None:
                date_raw = m.group(1).strip()
            elif (m := _SOURCE_LINE.match(line)) and source is None:
                source = m.group(1).strip() or None
            else:
                body.append(line)
        date = parse_date(date_raw) if date_raw else None
        metadata: dict[str, Any] = {"date_raw": date_raw} if date_raw and not date else {}
        if position == 0:
            page_source = source
        elif source is None and page_source:
            # Same site, so the same publisher; but never the page's date: it is another story.
            source, metadata["source_from"] = page_source, "page"
        yield Article(f"{path}#{position}", title, "\n".join(body) or title, date, source,
                      None, path, position, metadata)


def _read_text(text: str, path: str, markdown: bool) -> Iterator[Article]:
    """Seed layout when its marker lines are present; otherwise first line = title."""
    lines = [s.strip() for s in text.split("\n") if s.strip()]
    if not markdown and any(_DATE_LINE.match(s) or _SOURCE_LINE.match(s)
                            or _read_also(s) is not None for s in lines):
        yield from _read_seed(lines, path)
        return
    head, _, rest = text.strip().partition("\n")
    title = head.strip()
    if markdown:
        title = re.sub(r"^#+\s*|\s+#+$", "", title) or title  # ATX heading, "C#" kept
    yield Article(f"{path}#0", title, rest.strip() or head.strip(), None, None, None, path, 0)


# ---------------------------------------------------------------- html
_DROP = ["script", "style", "noscript", "template", "svg", "iframe", "head"]
_BLOCKS = {"address", "article", "aside", "blockquote", "caption", "dd", "details", "div", "dl",
           "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4",
           "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section",
           "summary", "table", "tr", "ul"}
_BREAK = "\ue000"  # private-use block-break marker: newlines in HTML source are mere spaces
_DATE_META = ("article:published_time", "date", "datepublished", "pubdate", "dc.date")


def _collapse(s: str) -> str:
    return " ".join(s.split())


def block_lines(root: Any) -> list[str]:
    """The visible text under a parsed element, one line per paragraph/block (``<br>`` and block tags break
    lines, table cells are kept apart), whitespace collapsed: what sentence splitting and offsets rely on."""
    for tag in root.find_all(True):
        if tag.name == "br":
            tag.replace_with(_BREAK)
        elif tag.name in _BLOCKS:
            tag.insert_before(_BREAK)
            tag.insert_after(_BREAK)
        elif tag.name in ("td", "th"):
            tag.insert_after(" ")
    return [c for c in map(_collapse, root.get_text().split(_BREAK)) if c]


def _read_html(text: str, path: str) -> Iterator[Article | ReadError]:
    """Visible text of <article> (else <body>); title, date, source, url from the markup.

    The fallback of :func:`index.pages.read_page` (pages trafilatura finds no main text in), and the
    "before" of bench/extraction.py: on real pages it keeps menus, related links and footers."""
    with warnings.catch_warnings():  # a tiny page may "look like a filename"; it is still a page
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(text, "html.parser")
    meta: dict[str, str] = {}
    for tag in soup.find_all("meta", content=True):
        key = str(tag.get("property") or tag.get("name") or tag.get("itemprop") or "").strip().lower()
        meta.setdefault(key, str(tag["content"]).strip())
    # Read <head> and <time> now: the drop pass below destroys those tags.
    page_title = _collapse(soup.title.get_text()) if soup.title else ""
    canonical = soup.find("link", rel="canonical", href=True)
    url = str(canonical["href"] if canonical else meta.get("og:url", "")).strip() or None
    time_tag = soup.find("time")
    dates = [meta.get(_DATE_META[0]), (time_tag.get("datetime") or time_tag.get_text()) if time_tag else None,
             *(meta.get(k) for k in _DATE_META[1:])]
    lang = soup.html.get("lang") if soup.html else None
    for node in soup.find_all(string=lambda s: isinstance(s, Comment)):
        node.extract()
    for tag in soup.find_all(_DROP):
        tag.decompose()
    for tag in soup.find_all(True):
        if not tag.decomposed and (tag.has_attr("hidden") or "display:none" in
                                   str(tag.get("style", "")).replace(" ", "").lower()):
            tag.decompose()
    h1 = soup.find("h1")
    h1_text = _collapse(h1.get_text(" ")) if h1 else ""
    title = _collapse(meta.get("og:title", "")) or h1_text or page_title
    lines = block_lines(soup.find("article") or soup.body or soup)
    while lines and lines[0] in {title, h1_text}:  # the headline is the title, not the text
        lines.pop(0)
    if not lines:
        yield ReadError(path, "page has no visible text")
        return
    raw_dates = [d.strip() for d in dates if d and d.strip()]
    date = next((d for d in map(parse_date, raw_dates) if d), None)
    metadata: dict[str, Any] = {"date_raw": raw_dates[0]} if raw_dates and not date else {}
    if lang:
        metadata["lang"] = str(lang)
    yield Article(f"{path}#0", title, "\n".join(lines), date, meta.get("og:site_name") or None,
                  url, path, 0, metadata)


def _read_page(text: str, path: str) -> Iterator[Article | ReadError]:
    """Saved web pages: main text through trafilatura (index/pages.py, imported only when a page is read)."""
    from .pages import read_page

    yield from read_page(text, path)


def _read_mhtml(text: str, path: str) -> Iterator[Article | ReadError]:
    """Pages a browser saved as one MIME file: the HTML part, read as a page."""
    from .pages import read_mhtml

    yield from read_mhtml(text, path)


def _read_feed(text: str, path: str) -> Iterator[Article | ReadError]:
    """RSS/Atom files (index/feeds.py, feedparser imported only when a feed is read)."""
    from .feeds import read_feed

    yield from read_feed(text, path)


# ---------------------------------------------------------------- files and folders
def _resolved(path: str | Path) -> str:
    """Absolute POSIX path for ids and messages (a symlink loop falls back to absolute)."""
    p = Path(path).expanduser()
    try:
        return p.resolve().as_posix()
    except (OSError, RuntimeError):
        return p.absolute().as_posix()


def file_type(path: str | Path) -> str:
    """The suffix that picks the reader, lower case: ``.jsonl`` for ``a.jsonl`` and ``a.JSONL.gz`` alike."""
    name = Path(path).name.lower()
    if name.endswith(GZIP_SUFFIX):
        name = name[: -len(GZIP_SUFFIX)]
    return Path(name).suffix


def is_supported(path: str | Path) -> bool:
    return file_type(path) in SUPPORTED_SUFFIXES


def _type_label(path: Path) -> str:
    """How an unsupported file is named in "skipped by type" counts: ``.pdf``, ``.tar.gz``, ``(none)``."""
    name = path.name.lower()
    gz = name.endswith(GZIP_SUFFIX)
    inner = Path(name[: -len(GZIP_SUFFIX)] if gz else name).suffix
    return (inner + GZIP_SUFFIX if gz else inner) or "(none)"


def _limit() -> str:
    return f"the {MAX_FILE_BYTES // _MB} MiB limit"


def _read_bytes(p: Path, where: str) -> bytes | ReadError:
    """At most MAX_FILE_BYTES (+1 to detect more) of the file, decompressed when it is gzip."""
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            return ReadError(where, f"file is {size / _MB:.1f} MiB, over {_limit()}")
        if not p.name.lower().endswith(GZIP_SUFFIX):
            with p.open("rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)  # the file may have grown since stat()
            if len(data) > MAX_FILE_BYTES:
                return ReadError(where, f"file is {len(data) / _MB:.1f} MiB, over {_limit()}")
            return data
        with gzip.open(p, "rb") as g:
            # read() with a bound decompresses no more than that: a bomb costs 20 MB, not its full size
            data = g.read(MAX_FILE_BYTES + 1)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        return ReadError(where, f"not a readable gzip file ({e or type(e).__name__})")
    except OSError as e:
        return ReadError(where, f"could not read the file: {e.strerror or e}")
    if len(data) > MAX_FILE_BYTES:
        return ReadError(where, f"decompresses to more than {_limit()} "
                                "(the limit applies to the uncompressed size)")
    return data


def _load(p: Path, where: str) -> str | ReadError:
    """The file's decoded text, or why it cannot be had."""
    if not p.exists():
        return ReadError(where, "no such file or folder")
    if not p.is_file():
        return ReadError(where, "is a folder, not a file" if p.is_dir() else "not a regular file")
    if not is_supported(p):
        return ReadError(where, f"unsupported file type '{_type_label(p)}' "
                                f"(supported: {', '.join(SUPPORTED_SUFFIXES)}, each also as .gz)")
    data = _read_bytes(p, where)
    if isinstance(data, ReadError):
        return data
    try:
        text = decode_bytes(data)
    except DecodeError as e:
        return ReadError(where, str(e))
    return text if text.strip() else ReadError(where, "file is empty")


def read_file(path: str | Path) -> Iterator[Article | ReadError]:
    """Yield the articles of one file and a ReadError per problem; never raises for content."""
    p = Path(path).expanduser()
    where = _resolved(p)
    text = _load(p, where)
    if isinstance(text, ReadError):
        yield text
        return
    suffix = file_type(p)
    readers = {".html": _read_page, ".htm": _read_page, ".mhtml": _read_mhtml, ".mht": _read_mhtml, ".json": _read_json,
               ".jsonl": _read_jsonl, ".csv": _read_csv, ".rss": _read_feed, ".atom": _read_feed, ".xml": _read_feed}
    reader = readers.get(suffix) or (lambda t, w: _read_text(t, w, markdown=suffix == ".md"))
    try:
        yield from reader(text, where)
    except Exception as e:  # noqa: BLE001 - a parser choking on odd content must not end the build
        yield ReadError(where, f"could not parse the file ({type(e).__name__}: {e})")


@dataclass
class WalkStats:
    """What a folder walk passed over, so a user hears about it instead of files vanishing silently."""

    skipped_types: Counter = field(default_factory=Counter)   # ".pdf" → 3: unsupported files, by type
    excluded: int = 0                                          # files and folders a .ragignore or --exclude left out

    def describe(self) -> str:
        """``skipped by type: .pdf: 3, .docx: 1; 2 files/folders excluded by .ragignore/--exclude`` (or "")."""
        parts = []
        if self.skipped_types:
            parts.append("skipped by type: " + ", ".join(f"{t}: {n}" for t, n in sorted(
                self.skipped_types.items(), key=lambda kv: (-kv[1], kv[0]))))
        if self.excluded:
            parts.append(f"{self.excluded} {'file/folder' if self.excluded == 1 else 'files/folders'} excluded by "
                         f"{IGNORE_FILE}/--exclude")
        return "; ".join(parts)


class _Ignore:
    """gitignore rules (``pathspec``) from the ``.ragignore`` files met on the way down, plus ``--exclude``.

    As in git, a file's rules apply to paths below its folder, a deeper file's matching rule overrides a
    shallower one's, and ``!pattern`` re-includes.
    """

    def __init__(self, root: Path, exclude: Iterable[str]) -> None:
        import pathspec  # only folder walks need it

        self._pathspec = pathspec
        self.rules: list[tuple[Path, Any]] = []
        patterns = [p for p in exclude if p.strip()]
        if patterns:
            self.rules.append((root, pathspec.GitIgnoreSpec.from_lines(patterns)))

    def enter(self, folder: Path, errors: list[ReadError]) -> None:
        f = folder / IGNORE_FILE
        if not f.is_file():
            return
        try:
            lines = f.read_text(encoding="utf-8-sig", errors="replace").splitlines()
            self.rules.append((folder, self._pathspec.GitIgnoreSpec.from_lines(lines)))
        except (OSError, ValueError) as e:  # a bad pattern names the file; the walk goes on without it
            errors.append(ReadError(_resolved(f), f"could not use the ignore file: {e}"))

    def ignored(self, path: Path, is_dir: bool) -> bool:
        verdict = False
        for folder, spec in self.rules:
            try:
                rel = path.relative_to(folder).as_posix()
            except ValueError:
                continue
            result = spec.check_file(rel + "/" if is_dir else rel)
            if result.include is not None:
                verdict = result.include
        return verdict


def _other_xml(path: Path) -> bool:
    """An ``.xml`` file met in a folder that is not an RSS/Atom feed (a sitemap, a config): passed over like
    an unsupported type instead of reported as a bad feed. Named explicitly, it is read and reported."""
    if file_type(path) != ".xml":
        return False
    from .feeds import looks_like_feed

    try:
        opener = gzip.open if path.name.lower().endswith(GZIP_SUFFIX) else open
        with opener(path, "rb") as f:
            head = f.read(8192)
    except (OSError, EOFError, zlib.error):
        return False  # unreadable: read_file reports it
    return not looks_like_feed(head.decode("utf-8", "replace"))


def count_articles(path: str | Path) -> int:
    """How many articles ``read_file`` yields for ``path`` (parsed, nothing kept): progress totals."""
    return sum(1 for item in read_file(path) if isinstance(item, Article))


def _walk(root: Path, exclude: Iterable[str] = (), stats: WalkStats | None = None) -> Iterator[Path | ReadError]:
    """Supported, non-hidden, not ignored files under root, sorted by path; unlistable folders reported."""
    stats = stats if stats is not None else WalkStats()
    found: list[Path] = []
    errors: list[OSError] = []
    problems: list[ReadError] = []
    ignore = _Ignore(root, exclude)
    for dirpath, dirnames, filenames in os.walk(root, onerror=errors.append):
        here = Path(dirpath)
        ignore.enter(here, problems)
        kept = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            if ignore.ignored(here / d, is_dir=True):
                stats.excluded += 1
            else:
                kept.append(d)
        dirnames[:] = kept
        for n in filenames:
            if n.startswith("."):
                continue
            f = here / n
            if ignore.ignored(f, is_dir=False):
                stats.excluded += 1
            elif is_supported(f) and not _other_xml(f):
                found.append(f)
            else:
                stats.skipped_types[_type_label(f) + (" (not a feed)" if is_supported(f) else "")] += 1
    for e in errors:
        yield ReadError(_resolved(e.filename or root), f"could not list the folder: {e.strerror or e}")
    yield from problems
    yield from sorted(found, key=lambda f: f.relative_to(root).parts)


def iter_files(paths: Iterable[str | Path], exclude: Iterable[str] = (),
               stats: WalkStats | None = None) -> Iterator[Path | ReadError]:
    """The files read_paths reads, in order and each once, so callers can count them first.
    A file named explicitly is yielded even if hidden, ignored or unsupported (read_file reports it).
    ``exclude``: gitignore-syntax patterns, relative to each folder given; ``stats`` collects what the
    walk passed over (unsupported types, exclusions)."""
    seen: set[str] = set()
    exclude = tuple(exclude)
    for given in paths:
        p = Path(given).expanduser()
        if not p.exists():
            yield ReadError(_resolved(p), "no such file or folder")
            continue
        for item in _walk(p, exclude, stats) if p.is_dir() else [p]:
            if isinstance(item, ReadError):
                yield item
            elif (key := _resolved(item)) not in seen:
                seen.add(key)
                yield item


def read_paths(paths: Iterable[str | Path], exclude: Iterable[str] = (),
               stats: WalkStats | None = None) -> Iterator[Article | ReadError]:
    """Read files and folders (folders recursively); a file named twice is read once."""
    for item in iter_files(paths, exclude, stats):
        if isinstance(item, ReadError):
            yield item
        else:
            yield from read_file(item)
