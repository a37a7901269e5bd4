"""Turn the many ways news pages write a publication date into ISO ``YYYY-MM-DD``.

Arab media mix English, Egyptian/Gulf (يناير…), Levantine/Iraqi (كانون الثاني…) and
Maghrebi (جانفي…) month names, Arabic-Indic digits and day-first numeric dates, so a
single ``strptime`` format never fits. Stdlib only, and deliberately independent of
``index.arabic`` so the readers do not depend on the search-side normalizer.
"""

from __future__ import annotations

import datetime as _dt
import re

__all__ = ["parse_date"]

# Arabic-Indic (U+0660..) and Extended/Persian (U+06F0..) digits → ASCII.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
# Diacritics (tashkeel), superscript alef and tatweel carry no meaning in a month name.
_TASHKEEL = re.compile("[\u064b-\u065f\u0670\u0640]")
_LETTER_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه"})

# Month names after folding (hamza-less alef, ة→ه, ى→ي). Two-word names come first so
# "كانون الثاني" is not read as a bare "الثاني".
_MONTH_WORDS: list[tuple[str, int]] = [
    (r"كانون\s+(?:ال)?ثاني", 1), (r"كانون\s+(?:ال)?اول", 12),
    (r"تشرين\s+(?:ال)?اول", 10), (r"تشرين\s+(?:ال)?ثاني", 11),
    ("شباط", 2), ("اذار", 3), ("نيسان", 4), ("ايار", 5), ("حزيران", 6),
    ("تموز", 7), ("اب", 8), ("ايلول", 9),
    ("يناير", 1), ("فبراير", 2), ("مارس", 3), ("ابريل", 4), ("مايو", 5),
    ("يونيو", 6), ("يونيه", 6), ("يوليو", 7), ("يوليه", 7), ("اغسطس", 8),
    ("سبتمبر", 9), ("اكتوبر", 10), ("نوفمبر", 11), ("ديسمبر", 12),
    ("جانفي", 1), ("فيفري", 2), ("افريل", 4), ("ماي", 5), ("جوان", 6),
    ("جويليه", 7), ("اوت", 8),
    ("january", 1), ("february", 2), ("march", 3), ("april", 4), ("may", 5),
    ("june", 6), ("july", 7), ("august", 8), ("september", 9), ("october", 10),
    ("november", 11), ("december", 12),
    ("jan", 1), ("feb", 2), ("mar", 3), ("apr", 4), ("jun", 6), ("jul", 7),
    ("aug", 8), ("sept", 9), ("sep", 9), ("oct", 10), ("nov", 11), ("dec", 12),
]
_MONTH_RES = [(re.compile(rf"(?<!\w){w}(?!\w)\.?"), m) for w, m in _MONTH_WORDS]

_ISO = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_DMY = re.compile(r"(?<!\d)(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?!\d)")
_SUFFIX = r"(?:st|nd|rd|th)?"
_GAP = r"[\s,./\-()]*"
_MONTHS = r"(?:@(\d\d)@" + _GAP + r")+"  # "آب/أغسطس" writes one month twice
_D_MONTH_Y = re.compile(rf"(?<!\d)(\d{{1,2}}){_SUFFIX}{_GAP}{_MONTHS}(\d{{4}})(?!\d)")
_MONTH_D_Y = re.compile(rf"@(\d\d)@{_GAP}(\d{{1,2}}){_SUFFIX}{_GAP}(\d{{4}})(?!\d)")


def _valid(year: int, month: int, day: int) -> str | None:
    """ISO string for a real calendar day; None for e.g. 31 February."""
    try:
        return _dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _fold(value: str) -> str:
    """Lower-case, ASCII digits, and Arabic letters folded so spelling variants match."""
    text = _TASHKEEL.sub("", value.translate(_DIGITS)).translate(_LETTER_FOLD).lower()
    for pattern, month in _MONTH_RES:
        text = pattern.sub(f" @{month:02d}@ ", text)
    return text


def parse_date(value: str) -> str | None:
    """Return ``YYYY-MM-DD`` for a date written in any common news style, else None.

    Numeric dates are read year-first (ISO) or day-first (Arab media); a day-first
    reading that is impossible but valid month-first (08/31/2023) is accepted too,
    because it is unambiguous. Weekday names, times and zones are ignored.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = _fold(value)
    if m := _ISO.search(text):
        return _valid(int(m[1]), int(m[2]), int(m[3]))
    if m := _DMY.search(text):
        first, second, year = int(m[1]), int(m[2]), int(m[3])
        return _valid(year, second, first) or (
            _valid(year, first, second) if second > 12 else None
        )
    if m := _D_MONTH_Y.search(text):
        return _valid(int(m[3]), int(m[2]), int(m[1]))
    if m := _MONTH_D_Y.search(text):
        return _valid(int(m[3]), int(m[1]), int(m[2]))
    return None
