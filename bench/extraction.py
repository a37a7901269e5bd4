"""Body-text extraction quality of the saved-page reader: the old visible-text reader vs trafilatura (issue #15).

For each page with a hand-written gold body (bench/data/pages/gold.json: 10 pages in 10 site layouts from
bench/data/pages/make_pages.py, plus the 2 pages of tests/data/pages), the article text each reader produces is
compared with the gold body as bags of word tokens (lower-cased ``\\w+``, counted with multiplicity):
precision = shared tokens / extracted tokens (how little boilerplate got in), recall = shared / gold tokens (how
much of the story survived), F1 their harmonic mean; micro-averaged over all tokens and macro over pages. Title and
date agreement are counted too. "before" is ``index.articles._read_html`` (the reader of main before this change,
now the fallback), "after" is ``read_file`` (trafilatura, falling back to it).

    .venv/bin/python bench/extraction.py            # all pages (a few seconds)
    .venv/bin/python bench/extraction.py --smoke    # 3 pages (CI)
"""
from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import finish, log, parser  # noqa: E402
from index.articles import Article, _read_html, decode_bytes, read_file  # noqa: E402

PAGES = Path(__file__).resolve().parent / "data" / "pages"
_TOKEN = re.compile(r"\w+")


def tokens(text: str) -> Counter:
    return Counter(t.lower() for t in _TOKEN.findall(text))


def scores(got: Counter, gold: Counter) -> dict[str, float]:
    shared = sum((got & gold).values())
    p = shared / sum(got.values()) if got else 0.0
    r = shared / sum(gold.values()) if gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "shared": shared,
            "extracted": sum(got.values()), "gold": sum(gold.values())}


def _old(path: Path) -> Article | None:
    text = decode_bytes(path.read_bytes())
    return next((a for a in _read_html(text, str(path)) if isinstance(a, Article)), None)


def _new(path: Path) -> Article | None:
    return next((a for a in read_file(path) if isinstance(a, Article)), None)


def evaluate(reader: Callable[[Path], Article | None], gold: dict[str, Any]) -> dict[str, Any]:
    pages, totals, started = {}, Counter(), time.perf_counter()
    for name, want in gold.items():
        a = reader(PAGES / name)
        s = scores(tokens(a.text if a else ""), tokens("\n".join(want["body"])))
        s["title_ok"] = bool(a) and " ".join(a.title.split()) == " ".join(want["title"].split())
        s["date_ok"] = bool(a) and a.date == want["date"]
        s["extractor"] = a.metadata.get("extractor", "bs4") if a else None
        pages[name] = s
        totals.update({k: s[k] for k in ("shared", "extracted", "gold")})
    micro_p = totals["shared"] / totals["extracted"] if totals["extracted"] else 0.0
    micro_r = totals["shared"] / totals["gold"]
    n = len(pages)
    return {
        "micro": {"precision": round(micro_p, 3), "recall": round(micro_r, 3),
                  "f1": round(2 * micro_p * micro_r / (micro_p + micro_r), 3) if micro_p + micro_r else 0.0},
        "macro": {k: round(sum(s[k] for s in pages.values()) / n, 3) for k in ("precision", "recall", "f1")},
        "titles_right": sum(s["title_ok"] for s in pages.values()), "dates_right": sum(s["date_ok"] for s in pages.values()),
        "pages": n, "seconds": round(time.perf_counter() - started, 3),
        "per_page": {k: {m: (round(v, 3) if isinstance(v, float) else v) for m, v in s.items()} for k, s in pages.items()},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parser(__doc__).parse_args(argv)
    gold = json.loads((PAGES / "gold.json").read_text(encoding="utf-8"))
    if args.smoke:
        gold = dict(list(gold.items())[:3])
    _new(PAGES / next(iter(gold)))  # import trafilatura outside the timing
    before, after = evaluate(_old, gold), evaluate(_new, gold)
    for label, r in (("before (visible text)", before), ("after (trafilatura)", after)):
        log(f"{label}: micro P {r['micro']['precision']:.3f} R {r['micro']['recall']:.3f} F1 {r['micro']['f1']:.3f}; "
            f"macro F1 {r['macro']['f1']:.3f}; titles {r['titles_right']}/{r['pages']}, dates {r['dates_right']}/{r['pages']}")
    return finish("extraction", {"before": before, "after": after}, args)


if __name__ == "__main__":
    main()
