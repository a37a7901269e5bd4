"""Arabic-first text utilities: keyword normalization, light stemming, sentence
spans and script/direction detection.

`normalize` is for the keyword index and queries only: it deliberately loses
information (hamza, ta marbuta, harakat), so never use it for display or embeddings.
"""
from __future__ import annotations

import re
import unicodedata

__all__ = [
    "TA_MARBUTA_TO_HA", "STOPWORDS", "normalize", "tokenize", "light_stem",
    "keyword_terms", "split_sentences", "script", "direction", "language",
]

# The "ة policy": spelling of ة/ه at word end is inconsistent in news text, so fold it.
TA_MARBUTA_TO_HA = True

_DROP = [*range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x206A),
         0xFEFF, 0x061C, 0x00AD,  # soft hyphen: invisible, splits words in scraped HTML
         *range(0x064B, 0x0660), 0x0670, *range(0x0610, 0x061B), *range(0x06D6, 0x06EE),
         0x0640]
_MAP = {**{c: None for c in _DROP},
        **{ord(c): "ا" for c in "أإآٱ"}, ord("ى"): "ي", ord("ؤ"): "و", ord("ئ"): "ي",
        ord("ک"): "ك", ord("ی"): "ي", ord("ۀ"): "ه", ord("٫"): ".", ord("٬"): ",",
        **{0x0660 + d: str(d) for d in range(10)}, **{0x06F0 + d: str(d) for d in range(10)}}
_TABLE_KEEP_TA = str.maketrans(_MAP)
_TABLE = {**_TABLE_KEEP_TA, ord("ة"): "ه"}
_WS = re.compile(r"\s+")


def _normalize_once(text: str, table: dict) -> str:
    text = unicodedata.normalize("NFKC", text).translate(table).casefold()
    return _WS.sub(" ", text).strip()


def normalize(text: str, *, ta_marbuta: bool | None = None) -> str:
    """Fold spelling variants so index terms and query terms meet.

    `ta_marbuta` (default: TA_MARBUTA_TO_HA) folds ة to ه. Steps are repeated
    to a fixed point because deleting a mark can make NFKC compose anew, and
    idempotence is what keeps index and query terms equal.
    """
    fold = TA_MARBUTA_TO_HA if ta_marbuta is None else ta_marbuta
    table = _TABLE if fold else _TABLE_KEEP_TA
    for _ in range(8):
        nxt = _normalize_once(text, table)
        if nxt == text:
            break
        text = nxt
    return text


# Numbers with inner separators ("3.5", "1,000,000") first, then letter/digit runs.
_TOKEN = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+")


def tokenize(text: str) -> list[str]:
    """Normalized word tokens; numbers keep their decimal/thousands separators."""
    return _TOKEN.findall(normalize(text))


_AR_PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال", "و")
_AR_SUFFIXES = ("ها", "ان", "ات", "ون", "ين", "يه", "ية", "ه", "ة", "ي")


def _is_arabic_char(c: str) -> bool:
    o = ord(c)
    return (0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F or 0x08A0 <= o <= 0x08FF
            or 0xFB50 <= o <= 0xFDFF or 0xFE70 <= o <= 0xFEFF)


def light_stem(token: str) -> str:
    """Light10 (Larkey et al.; as in Lucene) for Arabic, an s-stemmer for Latin.

    Aggressive roots hurt precision on names and news vocabulary; light affix
    removal conflates الأمريكية/أمريكي without merging unrelated words.
    Suffixes get a single ordered pass (as in Light10) rather than repeated
    stripping, which would turn بيانات into بي.
    """
    if not token or any(c.isdigit() for c in token):
        return token
    if _is_arabic_char(token[0]):
        for p in _AR_PREFIXES:
            if token.startswith(p) and len(token) >= (4 if len(p) == 1 else len(p) + 2):
                token = token[len(p):]
                break
        for s in _AR_SUFFIXES:
            if token.endswith(s) and len(token) >= len(s) + 2:
                token = token[: -len(s)]
        return token
    if token.endswith(("'s", "’s")):
        token = token[:-2]
    if len(token) <= 4 or token.endswith(("ss", "us", "is")) or not token.endswith("s"):
        return token
    if token.endswith("ies") and not token.endswith(("aies", "eies")):
        return token[:-3] + "y"
    if token.endswith(("sses", "xes", "ches", "shes")):
        return token[:-2]
    return token[:-1]


_AR_STOP = """
في من على إلى الى عن مع أن ان إن هذا هذه ذلك تلك هذان هاتان هؤلاء أولئك هنا هناك هنالك
التي الذي الذين اللذين اللتين اللواتي اللاتي التى كان كانت كانوا يكون تكون يكونوا ليس ليست
قد لقد لم لن ما ماذا متى أين اين كيف لماذا لما كم هل هو هي هم هما هن أنا نحن أنت أنتم أنتن
و او أو أم ثم بعد قبل عند عندما حول كل بين أي اي لا نعم كما حيث منذ خلال ضد لدى غير بل لكن
ولكن إذا اذا إذ لو حتى إلا الا سوى أيضا ايضا فقط جدا تحت فوق أمام امام وراء خلف دون مثل عبر
نحو ضمن به بها له لها لهم لهما فيه فيها فيهم منه منها منهم عليه عليها عليهم عنه عنها عنهم
إليه اليه إليها اليها إليهم معه معها معهم بهم بينهم ذات ذو ذي وفي ومن وعلى وعن ومع وقد
وهو وهي وهم وكان وكانت ولا ولم ولن وأن وان وإن وهذا وهذه وذلك والتي والذي فقد فإن فان
فلا كذلك أما اما إما بعض جميع عدة أكثر اكثر أقل اقل مما ممن عما فيما بينما بسبب وفق وفقا
تم يتم أنه انه أنها انها إنه إنها كلا كلما لأن لان لذلك هكذا عليك إياه
"""
_EN_STOP = """
a about above after again against all also am an and any are aren as at be because been
before being below between both but by can cannot could couldn did didn do does doesn doing
don down during each either else etc ever every few for from further had hadn has hasn have
haven having he her here hers herself him himself his how however i if in into is isn it its
itself just ll me more most mr mrs ms much must my myself neither no nor not now of off on
once only or other others our ours ourselves out over own per re same shall she should
shouldn so some such than that the their theirs them themselves then there these they this
those though through thus to too under until up upon very via was wasn we were weren what
whatever when whenever where whereas wherever whether which while who whom whose why will
with within without would wouldn yet you your yours yourself yourselves ve
"""
# "us" (the U.S.), "may" (the month) and "won" are omitted on purpose.
STOPWORDS: frozenset[str] = frozenset(normalize(w) for w in (_AR_STOP + _EN_STOP).split())


def _is_number(tok: str) -> bool:
    return tok[:1].isdigit()


def keyword_terms(text: str) -> list[str]:
    """Index/query terms: the same function on both sides keeps them comparable."""
    return [light_stem(t) for t in tokenize(text)
            if t not in STOPWORDS and (len(t) > 1 or _is_number(t))]


# ---------------------------------------------------------------- sentences
_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_STRONG = "!?؟؛;"
_TERMS = _STRONG + ".…"
_CLOSERS = "\"'”’»›)]}"
_OPENERS = "\"'“‘«‹([{"
_CANDIDATE = re.compile("[" + re.escape(_TERMS + _BREAKS) + "]")
_NEVER_ABBR = {"mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "gen", "col", "lt", "sgt",
               "capt", "gov", "sen", "rep", "rev", "hon", "mt", "vs", "cf", "e.g", "i.e",
               "approx", "dept", "fig", "ca", "ft"}
_SOFT_ABBR = {"etc", "inc", "ltd", "co", "corp", "no", "a.m", "p.m", "jan", "feb", "aug",
              "sept", "oct", "nov", "dec"}
_DOTTED = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")
_CONTINUATION = ",،;:-–—)"
_LOOK = 64  # bounded look-around keeps splitting linear on long unspaced input


def _word_before(text: str, i: int, lo: int) -> str:
    """The whitespace-delimited word ending at i (bounded), without opening quotes."""
    j = i
    while j > max(lo, i - _LOOK) and not text[j - 1].isspace():
        j -= 1
    return text[j:i].lstrip(_OPENERS).replace("\u0640", "")


def _next_visible(text: str, k: int) -> str:
    for c in text[k:k + _LOOK]:
        if not c.isspace():
            return c
    return ""


def _is_boundary(text: str, i: int, j: int, k: int, lo: int) -> bool:
    """Decide whether the terminator run text[i:j] (closers up to k) ends a sentence."""
    run = text[i:j]
    after = text[k] if k < len(text) else ""
    if after and not after.isspace():  # inside a token: 3.5, U.S.A, example.com/?q=1
        if "؟" in run or "؛" in run:
            return True
        if any(c in _STRONG for c in run):
            window = text[max(lo, i - _LOOK):i]
            return not ("://" in window or "www." in window.casefold() or "@" in window)
        if "…" in run or len(run) > 1 or i - lo < 2:
            return False
        # Arabic often drops the space after a period: "الأول.وأضاف" (but not "د.أحمد").
        return all(c.isalpha() and _is_arabic_char(c) for c in (after, text[i - 1], text[i - 2]))
    if not after or any(c in _STRONG for c in run):
        return True
    word = _word_before(text, i, lo)
    nxt = _next_visible(text, k)
    if "…" in run or len(run) > 1:  # ellipsis: continues before lowercase or a comma
        return not (nxt.islower() or (nxt and nxt in _CONTINUATION))
    low = word.casefold()
    if len(word) == 1 and word.isalpha():  # initials "J. K.", Arabic "د." "م." "ص."
        prev = _word_before(text, i - 2, lo) if i >= 2 and text[i - 2].isspace() else ""
        return word in "مه" and prev[:1].isdigit()  # "عام 1990 م." is a date, not a title
    if low in _NEVER_ABBR or (_DOTTED.fullmatch(word) and low not in _SOFT_ABBR):
        return False
    if low in _SOFT_ABBR:
        return not (nxt.islower() or nxt.isdigit())
    if word.isdigit() and len(word) <= 2 and not text[lo:i - len(word)].strip():
        return False  # list numbering: "1. ..."
    return True


def _span(text: str, a: int, b: int) -> tuple[int, int] | None:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return (a, b) if a < b else None


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence (start, end) offsets into the original text, for citation highlighting.

    A single left-to-right scan with bounded look-around: no backtracking regex,
    so pathological input (10k chars, no punctuation) stays linear.
    """
    cuts: list[int] = []
    lo, pos, n = 0, 0, len(text)
    for m in _CANDIDATE.finditer(text):
        i = m.start()
        if i < pos:
            continue
        if text[i] in _BREAKS:
            cuts.append(i)
            lo = pos = i + 1
            continue
        j = i
        while j < n and text[j] in _TERMS:
            j += 1
        k = j
        while k < n and text[k] in _CLOSERS:
            k += 1
        pos = k
        if _is_boundary(text, i, j, k, lo):
            cuts.append(k)
            lo = k
    spans, a = [], 0
    for b in [*cuts, n]:
        s = _span(text, a, b)
        if s:
            spans.append(s)
        a = b
    return spans


# ---------------------------------------------------------------- script
def _letter_counts(text: str) -> tuple[int, int, int]:
    """(arabic, latin, all) letter counts; digits, marks and punctuation don't vote."""
    ar = la = total = 0
    for c in text:
        if not c.isalpha():
            continue
        total += 1
        if _is_arabic_char(c):
            ar += 1
        elif c.isascii() or 0x00C0 <= ord(c) <= 0x024F or 0x1E00 <= ord(c) <= 0x1EFF:
            la += 1
    return ar, la, total


def script(text: str) -> str:
    """"arabic", "latin", "mixed" or "none" by the share (≥ 80%) of all letters."""
    ar, la, total = _letter_counts(text)
    if not total:
        return "none"
    if ar >= 0.8 * total:
        return "arabic"
    if la >= 0.8 * total:
        return "latin"
    return "mixed"


def direction(text: str) -> str:
    """"rtl" when Arabic letters are at least as many as Latin ones (and any exist)."""
    ar, la, _ = _letter_counts(text)
    return "rtl" if ar and ar >= la else "ltr"


def language(text: str) -> str:
    """"ar" if Arabic letters are ≥ 40% of letters: a mostly-Arabic message gets Arabic UI text."""
    ar, _, total = _letter_counts(text)
    return "ar" if ar and ar >= 0.4 * total else "en"
