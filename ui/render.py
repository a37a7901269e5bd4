"""Pure functions that turn questions, answers and articles into escaped HTML for the Streamlit page.

Why this module exists: Streamlit has no right-to-left switch, so direction is set per element with ``dir``
attributes, and that needs raw HTML (``st.markdown(..., unsafe_allow_html=True)``). Raw HTML next to news
text is an injection risk, so *all* markup is built here, and every piece of article, question or answer
text goes through :func:`esc` before it touches markup. The page only accepts :class:`Html` values from
this module, which makes "text reached the page unescaped" a type error rather than a review finding.

Everything is returned on a single line: Streamlit parses the string as Markdown first, and a blank line
inside an HTML block would end the block and let Markdown (``*``, ``#``, ``$math$``, links) interpret the
rest of the article text. Newlines in text become ``<br>`` or separate ``<p>`` elements instead.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence
from urllib.parse import urlsplit

from index.arabic import direction as _text_direction
from index.arabic import language, script
from rag.answer import Answer, Citation
from rag.messages import message


class Html(str):
    """Markup produced by this module (its text parts already escaped): the only thing the page renders
    with ``unsafe_allow_html``."""


@dataclass(frozen=True)
class Turn:
    """One question of the chat and what came back: an answer, or an error message for the user."""

    question: str
    answer: Answer | None = None
    error: str | None = None


_LINE_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
_TRAILING_MARKERS = re.compile(r"(?:\s*\[(\d+)\])+\s*$")
_MARKER = re.compile(r"\[(\d+)\]")


def esc(text: str | None) -> str:
    """Text as HTML text: ``<``, ``>``, ``&`` and quotes become entities, so markup in an article stays
    visible as characters and never runs; line breaks become ``<br>`` so the markup stays on one line."""
    return "<br>".join(html.escape(line, quote=True) for line in _LINE_BREAKS.split(text or ""))


def direction(text: str, fallback: str = "ltr") -> str:
    """``rtl`` for Arabic, ``ltr`` for Latin; text without letters (a date, "[1]") keeps ``fallback``
    so a line of digits inside an Arabic passage does not flip to the left."""
    return fallback if script(text) == "none" else _text_direction(text)


def _lang(text: str) -> str:
    return "ar" if language(text) == "ar" else "en"


def _attrs(text: str, fallback: str = "ltr") -> str:
    """``dir``/``lang``/class attributes for a block of ``text``; ``lang`` lets the CSS pick the Arabic font."""
    d = direction(text, fallback)
    return f'dir="{d}" lang="{"ar" if d == "rtl" else "en"}"'


def lines(text: str) -> list[str]:
    """The text's lines (any Unicode line break), for one ``<p dir=…>`` per line."""
    return _LINE_BREAKS.split(text or "")


def marker(number: int) -> str:
    """A citation marker that stays ``[1]`` in Arabic text: isolated and left-to-right, so the bidi
    algorithm cannot mirror it into ``]1[`` or move the digit away from its brackets."""
    return f'<span class="rag-cite" dir="ltr">[{int(number)}]</span>'


def _sentence(text: str, citations: Sequence[int], block_dir: str, flagged: bool = False,
              answer_span: tuple[int, int] | None = None) -> str:
    """One answer sentence with its markers; a sentence in the other script is isolated with its own
    ``dir`` so its punctuation lands on the correct side ("mixed lines correct"). The short answer inside
    it (``answer_span``, offsets into ``text``) is marked, each piece escaped on its own."""
    cls = "rag-sent rag-flagged" if flagged else "rag-sent"
    title = ' title="No retrieved passage supports this sentence"' if flagged else ""
    span = _clamp(answer_span, len(text))
    inner = (esc(text[:span[0]]) + f'<mark class="rag-answer-span">{esc(text[span[0]:span[1]])}</mark>'
             + esc(text[span[1]:])) if span else esc(text)
    body = f'<span class="{cls}" dir="{direction(text, block_dir)}"{title}>{inner}</span>'
    marks = "".join(marker(n) for n in citations)
    return body + (" " + marks if marks else "")


def _paragraphs(text: str, block_dir: str, cls: str = "") -> str:
    """Each line of plain text as its own ``<p>`` with the line's own direction."""
    klass = f' class="{cls}"' if cls else ""
    return "".join(f'<p{klass} dir="{direction(line, block_dir)}">{esc(line)}</p>'
                   for line in lines(text) if line.strip()) or f"<p{klass}></p>"


def question_html(text: str) -> Html:
    """The user's question bubble, right-to-left when it is Arabic."""
    d = direction(text)
    return Html(f'<div class="rag-msg rag-question" {_attrs(text)}>{_paragraphs(text, d)}</div>')


def split_marker(part: str) -> tuple[str, tuple[int, ...]]:
    """``"sentence [1][2]"`` → ``("sentence", (1, 2))``: only markers at the end of a streamed sentence are
    markers; ``[3]`` inside quoted article text stays text."""
    m = _TRAILING_MARKERS.search(part)
    if not m:
        return part, ()
    return part[:m.start()].rstrip(), tuple(int(n) for n in _MARKER.findall(m.group(0)))


def _join_tokens(parts: Sequence[str]) -> str:
    """Tokens carry their own spaces; only a marker followed directly by a word (a fallback switching from
    model tokens to extractive sentences) gets one added."""
    out = ""
    for p in parts:
        if out.endswith("]") and p and not p[0].isspace() and p[0] not in ".,;:!?،؛؟)»":
            out += " "
        out += p
    return out


def _inline_markers(text: str) -> str:
    """Escaped text with every ``[n]`` shown as a marker (used for token streams only)."""
    pieces = _MARKER.split(text)          # text, number, text, number, …
    return "".join(marker(int(x)) if i % 2 else esc(x) for i, x in enumerate(pieces))


def streaming_html(parts: Sequence[str], by_sentence: bool = True) -> Html:
    """The answer so far, while it streams, in the final answer's look.

    ``by_sentence`` (the extractive answerer): each part is a whole sentence with trailing markers and is
    isolated with its own direction. Otherwise (an LLM's tokens) the parts are one running text: isolating
    each token would reverse the words of an English name inside Arabic, so the browser's bidi algorithm
    gets the text whole and only the markers are isolated.
    """
    if by_sentence:
        pieces = [split_marker(p) for p in parts]
        plain = " ".join(text for text, _ in pieces)
        d = direction(plain)
        body = " ".join(_sentence(text, marks, d) for text, marks in pieces)
    else:
        joined = _join_tokens(parts)
        plain = _MARKER.sub("", joined)
        d = direction(plain)
        body = _inline_markers(joined.strip())
    return Html(f'<div class="rag-msg rag-answer rag-streaming" {_attrs(plain)}><p dir="{d}">{body}'
                '<span class="rag-caret" aria-hidden="true">▍</span></p></div>')


def thinking_html(question: str) -> Html:
    """Shown until the first sentence arrives (retrieval, then scoring)."""
    text = "يبحث في الأرشيف…" if _lang(question) == "ar" else "Searching the archive…"
    d = direction(question)
    return Html(f'<div class="rag-msg rag-answer rag-pending" dir="{d}" lang="{_lang(question)}">'
                f"<p>{esc(text)}</p></div>")


def answer_html(answer: Answer) -> Html:
    """The final answer: sentences with ``[n]`` markers; a refusal is styled as one (its own class) and
    keeps the line breaks of the refusal message."""
    plain = " ".join(s.text for s in answer.sentences)
    d = direction(plain, "rtl" if answer.language == "ar" else "ltr")
    if answer.refused:
        body = "".join(f'<p dir="{direction(s.text, d)}">{_sentence(s.text, s.citations, d, s.flagged)}</p>'
                       for s in answer.sentences)
        return Html(f'<div class="rag-msg rag-answer rag-refusal" {_attrs(plain, d)}>{body}</div>')
    body = " ".join(_sentence(s.text, s.citations, d, s.flagged, getattr(s, "answer_span", None))
                    for s in answer.sentences)
    return Html(f'<div class="rag-msg rag-answer" {_attrs(plain, d)}><p dir="{d}">{body}</p></div>')


def _safe_url(url: str | None) -> str | None:
    """Only http(s) links become links: a ``javascript:`` URL in an article's metadata must not."""
    if not url or _LINE_BREAKS.search(url) or any(ord(ch) < 32 for ch in url):
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in {"http", "https"} else None


def source_html(title: str, date: str | None, source: str | None, url: str | None = None,
                also_in: Iterable[str] = ()) -> Html:
    """Title, then date and source on one line; the date is isolated left-to-right so ``2023-08-31`` is not
    reordered inside Arabic."""
    d = direction(title or source or "", "rtl")
    meta = []
    if date:
        meta.append(f'<span class="rag-date" dir="ltr">{esc(date)}</span>')
    for s in (source, *also_in):
        if s:
            meta.append(f'<span class="rag-src" dir="{direction(s, d)}">{esc(s)}</span>')
    link = _safe_url(url)
    if link:
        meta.append(f'<a class="rag-url" dir="ltr" href="{esc(link)}" target="_blank" '
                    f'rel="noopener noreferrer nofollow">{esc(link)}</a>')
    sep = '<span class="rag-sep"> · </span>'
    return Html(f'<div class="rag-source" {_attrs(title or "", d)}>'
                f'<p class="rag-title" dir="{d}">{esc(title) or "—"}</p>'
                + (f'<p class="rag-meta" dir="{d}">{sep.join(meta)}</p>' if meta else "") + "</div>")


def _clamp(span: tuple[int, int] | None, n: int) -> tuple[int, int] | None:
    if span is None:
        return None
    a, b = max(0, min(int(span[0]), n)), max(0, min(int(span[1]), n))
    return (a, b) if a < b else None


def _spans(spans: Any, n: int) -> list[tuple[int, int]]:
    """One span or several → clamped, sorted, non-overlapping spans (a passage cited for two sentences
    highlights both)."""
    if spans is None:
        return []
    items = [spans] if len(spans) == 2 and all(isinstance(x, int) for x in spans) else list(spans)
    out: list[tuple[int, int]] = []
    for sp in sorted(x for x in (_clamp(tuple(i), n) for i in items) if x):
        if out and sp[0] <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], sp[1]))
        else:
            out.append(sp)
    return out


def highlighted_paragraphs(text: str, span: Any, block_dir: str) -> str:
    """``text`` as one ``<p dir>`` per line, with each of ``span`` (one (start, end) or a list of them)
    inside ``<mark>`` (split over lines when a sentence crosses one). Offsets are character offsets into
    ``text``, as in :attr:`Citation.spans_in_passage`."""
    spans = _spans(span, len(text))
    out, pos = [], 0
    for m in [*_LINE_BREAKS.finditer(text), None]:
        end = m.start() if m else len(text)
        line = text[pos:end]
        inside = [(max(a, pos) - pos, min(b, end) - pos) for a, b in spans if a < end and b > pos]
        if line.strip() or inside:
            pieces, at = [], 0
            for a, b in inside:
                pieces += [esc(line[at:a]), f'<mark class="rag-hl">{esc(line[a:b])}</mark>']
                at = b
            pieces.append(esc(line[at:]))
            hl = ' class="rag-hl-line"' if inside else ""
            out.append(f'<p{hl} dir="{direction(line, block_dir)}">{"".join(pieces)}</p>')
        if m is None:
            break
        pos = m.end()
    return "".join(out)


def passage_html(text: str, span: Any = None) -> Html:
    """A cited passage with its supporting sentences marked (``span``: one (start, end) in ``text`` or a
    list of them)."""
    d = direction(text, "rtl")
    return Html(f'<div class="rag-passage" {_attrs(text, d)}>{highlighted_paragraphs(text, span, d)}</div>')


def origin_html(origins: Iterable[str | None]) -> Html:
    """Where the article was read from (file path and position, or its id), so a journalist can get back to
    the original. Escaped like all text (a file name is user-controlled) and isolated left-to-right: a path
    with Arabic folder names must not be reordered around its slashes."""
    shown = [o for o in origins if o]
    if not shown:
        return Html("")
    items = "".join(f'<p dir="ltr"><bdi>{esc(o)}</bdi></p>' for o in shown)
    return Html(f'<div class="rag-origin" dir="ltr" title="origin">{items}</div>')


def citation_html(c: Citation, highlight: bool = True) -> Html:
    """A citation opened: where it comes from, then the passage with every sentence quoted from it
    highlighted (not for "possibly related" passages of a refusal: nothing in them was judged to answer)."""
    return Html(source_html(c.title, c.date, c.source, c.url, c.also_in) + origin_html([c.origin])
                + passage_html(c.passage, list(c.spans_in_passage) if highlight else None))


def article_html(record: Any, span: Any = None, origins: Iterable[str] = ()) -> Html:
    """The whole article (an :class:`index.backend.ArticleRecord`) with the cited sentences highlighted
    (``span``: one (start, end) or a list of them, article offsets), and every place it was read from
    (``origins``: labels, see index.backend.format_origin)."""
    d = direction(record.text, "rtl")
    return Html(source_html(record.title, record.date, record.source, record.url) + origin_html(origins)
                + f'<div class="rag-passage rag-article" {_attrs(record.text, d)}>'
                + highlighted_paragraphs(record.text, span, d) + "</div>")


def searched_html(query: str, lang: str) -> Html:
    """"Searched for: …" under a follow-up's answer. The label follows the answer's language and the query
    (two questions joined, maybe in two scripts) is isolated with its own direction, so the colon and the
    question marks stay where they belong."""
    label = "بحث عن" if lang == "ar" else "Searched for"
    d = "rtl" if lang == "ar" else "ltr"
    return Html(f'<div class="rag-notice rag-note" dir="{d}" lang="{lang}"><p dir="{d}">{esc(label)}: '
                f'<span class="rag-sent" dir="{direction(query, d)}">{esc(query)}</span></p></div>')


def status_html(status: dict[str, Any]) -> Html:
    """The archive at a glance (from ``Snapshot.status``): counts, date range, last update, embedder."""
    def row(label: str, value: Any, ltr: bool = False) -> str:
        v = esc(str(value)) if value not in (None, "") else "—"
        attr = ' dir="ltr"' if ltr else ""
        return f'<tr><th dir="auto">{esc(label)}</th><td{attr}>{v}</td></tr>'

    lo, hi = status.get("date_from"), status.get("date_to")
    dates = (lo if lo == hi else f"{lo} … {hi}") if lo else None
    updated = (status.get("last_update") or "").replace("T", " ")[:16]
    rows = [row("المقالات · Articles", status.get("articles")), row("المقاطع · Passages", status.get("chunks")),
            row("المصادر · Sources", status.get("sources")), row("الفترة · Dates", dates, True),
            row("آخر تحديث · Updated", updated, True),
            row("النموذج · Embedder", f"{status.get('embedder')} ({status.get('embedder_identity')})", True)]
    return Html(f'<table class="rag-status">{"".join(rows)}</table>')


def note_html(text: str, kind: str = "note") -> Html:
    """A small line of system text (a note on the answer, an upload problem); escaped like the rest, since
    it can quote file names and article text."""
    kind = kind if kind in {"note", "error", "ok", "warn"} else "note"
    d = direction(text)
    return Html(f'<div class="rag-notice rag-{kind}" {_attrs(text)}>{_paragraphs(text, d)}</div>')


def style_html(css: str) -> Html:
    """Our own stylesheet (ui/style.css, not user data) in a ``<style>`` tag."""
    return Html("<style>" + css.replace("</", "<\\/") + "</style>")


def md_plain(text: str) -> str:
    """Text for Streamlit widgets that render Markdown but no HTML (expander labels, captions, errors):
    every Markdown punctuation is backslash-escaped so a title cannot become a link, image, heading,
    ``$math$`` or ``:color[...]`` directive; line breaks become spaces."""
    flat = " ".join(lines(text)).strip()
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])", r"\\\1", flat)


#: Unicode LEFT-TO-RIGHT ISOLATE … POP DIRECTIONAL ISOLATE: the plain-text equivalent of ``<span dir=ltr>``
#: for labels that cannot hold markup. Without it "2023-08-31" after Arabic shows as "31-08-2023".
LRI, PDI = "\u2066", "\u2069"


def citation_label(c: Citation) -> str:
    """The expander label of a citation: ``[n] title — date``, Markdown-escaped; marker and date are
    isolated left-to-right so the title alone decides the label's direction."""
    title = c.title.strip() or c.sentence[:60]
    label = f"{LRI}{md_plain(f'[{c.number}]')}{PDI} {md_plain(title)}"
    return label + (f" — {LRI}{md_plain(c.date)}{PDI}" if c.date else "")


def _md_text(text: str) -> str:
    """Markdown export: HTML-significant characters escaped so a Markdown viewer shows article markup as
    text instead of running it."""
    return html.escape(text, quote=False)


def conversation_markdown(turns: Iterable[Turn]) -> str:
    """The conversation as Markdown for copying or downloading: each question, its answer with markers,
    then its numbered sources with the supporting sentence quoted."""
    out = ["# المحادثة · Conversation", ""]
    for i, t in enumerate(turns, 1):
        out += [f"## {i}. {_md_text(t.question.strip())}", ""]
        if t.error:
            out += [f"> {_md_text(t.error)}", ""]
            continue
        a = t.answer
        if a is None:
            continue
        out += [_md_text(a.text), ""]
        shown = a.related if a.refused else a.citations
        if shown:
            out += [f"**{message('related' if a.refused else 'sources', a.language)}**", ""]
        for c in shown:
            meta = " — ".join(x for x in (c.date, c.source, *c.also_in) if x)
            out.append(f"- [{c.number}] {_md_text(c.title)}" + (f" — {_md_text(meta)}" if meta else ""))
            for quote in ([c.passage] if a.refused else c.sentences):
                out.append(f"  > {_md_text(' '.join(lines(quote)).strip())}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


#: The badge of each label, in the answer's language; only quoted/supported are styled as confirmed.
_BADGES = {"quoted": "✓", "supported": "✓", "related": "?", "unsupported": "✗"}


def _claim_html(s: Any, lang: str, block_dir: str) -> str:
    """One sentence, its label badge and the evidence sentences beside it, each block with its own
    direction (an English claim left-to-right, the Arabic sentence it rests on right-to-left)."""
    confirmed = " rag-confirmed" if s.label in {"quoted", "supported"} else ""
    badge = f"{_BADGES[s.label]} {message('label.' + s.label, lang)}"
    marks = "".join(marker(n) for n in s.citations)
    claim = (f'<p class="rag-claim-text" dir="{block_dir}"><span class="rag-badge" dir="{block_dir}">'
             f'{esc(badge)}</span> <span class="rag-sent" dir="{direction(s.text, block_dir)}">{esc(s.text)}'
             f'</span>{" " + marks if marks else ""}</p>')
    ev = "".join(f'<p class="rag-ev" {_attrs(e.text, "rtl")}>{marker(e.citation)} {esc(e.text)} '
                 f'<span class="rag-ev-score" dir="ltr">{float(e.score):.2f}</span></p>' for e in s.evidence)
    return (f'<div class="rag-claim rag-label-{esc(s.label)}{confirmed}">{claim}'
            f'<div class="rag-ev-list">{ev}</div></div>')


def evidence_html(answer: Answer) -> Html | None:
    """Each checked sentence of an LLM answer beside the passage sentence(s) it rests on, with its label
    (``rag.answer.labels``); None when there is nothing to show beside the answer (a refusal; an extractive
    answer, whose sentences are the evidence)."""
    checked = [s for s in answer.sentences if s.label in _BADGES and s.evidence]
    if answer.refused or not any(e.text.strip() != s.text.strip() for s in checked for e in s.evidence):
        return None
    lang = "ar" if answer.language == "ar" else "en"
    d = "rtl" if lang == "ar" else "ltr"
    body = "".join(_claim_html(s, lang, d) for s in checked)
    return Html(f'<div class="rag-evidence" dir="{d}" lang="{lang}"><p class="rag-ev-head" dir="{d}">'
                f'{esc(message("evidence", lang))}</p>{body}</div>')
