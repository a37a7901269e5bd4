"""What a question asks for, and whether a sentence holds it — without an NER model.

Why: the extractive answerer used to rank sentences by meaning and shared words alone, so "Who is the
Kremlin spokesman?" got a sentence *about* the Kremlin and "How many soldiers were killed?" got one with no
number at all. The question word decides what the answer sentence must contain (who → a person or an
organisation, when → a date or time, where → a place, how many / how much → a number or amount, why → a
cause, how → a means), in Arabic (من، متى، أين، كم، ما/ماذا، أي، لماذا، كيف) and English.

The signals are cheap and explicit: digits (Arabic-Indic included), Arabic and English number words and
scales (ألف، مليون، دينار، %), month names (the same lists as index/dates.py), years and weekdays, place and
person cue words (مدينة، مقاطعة، الرئيس، المتحدث…), a verb of saying at the head of a sentence (its
subject is the "who"), capitalised names in English. They are matched on a letter-folded copy of the
text that remembers where each character came from, so every match maps back to exact offsets in the
quoted sentence: that is the *answer span* the CLI and the UI highlight.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from index.arabic import STOPWORDS
from index.dates import _MONTH_WORDS

#: The kinds a question can ask for. "entity" (ما/what/which) and "other" impose nothing on the sentence.
KINDS = ("person", "time", "place", "number", "reason", "manner", "entity", "other")

# ------------------------------------------------------------------------------------------ folding ---
_DIACRITICS = {*range(0x064B, 0x0660), 0x0670, 0x0640, *range(0x0610, 0x061B)}
_FOLD = {**{ord(c): "ا" for c in "أإآٱ"}, ord("ى"): "ي", ord("ة"): "ه", ord("ؤ"): "و", ord("ئ"): "ي",
         **{0x0660 + d: str(d) for d in range(10)}, **{0x06F0 + d: str(d) for d in range(10)},
         ord("٫"): ".", ord("٬"): ","}


def fold_map(text: str) -> tuple[str, str, list[int]]:
    """``text`` hamza-less, without diacritics or tatweel, with ASCII digits: as written (``cased``, for
    capitalised English names) and lower-cased, plus ``index[i]``, the offset in ``text`` of character i
    (and ``index[-1] == len(text)``), so a match in the folded text maps back to the exact original
    characters. (index.arabic.normalize drops characters untracked, right for keywords, wrong for spans.)"""
    cased, index = [], []
    for i, ch in enumerate(text):
        if ord(ch) in _DIACRITICS:
            continue
        cased.append(_FOLD.get(ord(ch), ch))
        index.append(i)
    index.append(len(text))
    c = "".join(cased)
    low = "".join(x.lower() if len(x.lower()) == 1 else x for x in c)
    return c, low, index


def fold(text: str) -> str:
    """The lower-cased folded text (see :func:`fold_map`)."""
    return fold_map(text)[1]


def _alt(words: str) -> str:
    return "|".join(sorted({fold(w) for w in words.split()}, key=len, reverse=True))


# Arabic words take clitics: و/ف/ب/ل/ك before, and ال after them.
_PRE = r"(?:[وفبلك]?(?:ال|لل)?)"
_B = r"(?<![^\W\d_])"      # not preceded by a letter
_E = r"(?![^\W\d_])"       # not followed by a letter

# ------------------------------------------------------------------------------------ question kinds ---
_QUESTION_PATTERNS: list[tuple[str, str]] = [
    # how many / how much first: "ما عدد" is a "what" question asking for a number.
    ("number", r"(?:^|\s)(?:[وف]?(?:ب|على |في |منذ )?كم)\b|\bhow (?:many|much|long|old|far|big|large|tall|high|deep|often)\b"
               r"|\bwhat (?:percentage|proportion|share|fraction|amount|number|size|population)\b"
               r"|^[وف]?(?:ما|ماذا) (?:هو |هي |كان |كانت )?(?:" + _alt(
                   "عدد نسبة حجم قيمة مساحة طول عمر تكلفة كلفة سعر مبلغ مدة ارتفاع عرض عمق وزن كمية مقدار "
                   "سرعة درجة معدل") + r")\b"),
    ("time", r"(?:^|\s)[وف]?(?:منذ |حتى |الى )?متي\b|\bwhen\b|\b(?:what|which|in what|in which) (?:year|date|month|day|time|century|decade|period|era)\b"
             r"|(?:^|\s)(?:في|منذ|حتى|الى)? ?(?:اي|ايه) (?:" + _alt("عام سنة تاريخ يوم شهر قرن وقت فترة عقد حقبة") + r")\b"
             r"|^[وف]?(?:ما|ماذا) (?:هو |هي )?(?:" + _alt("تاريخ موعد توقيت") + r")\b"),
    ("place", r"(?:^|\s)[وف]?(?:الى |من |في )?اين\b|\bwhere\b|\bcapital of\b|\b(?:what|which|in what|in which) (?:country|city|town|place|region|"
              r"province|state|continent|island|river|village|location|area)\b"
              r"|(?:^|\s)(?:في|الى|من)? ?(?:اي|ايه) (?:" + _alt(
                  "مدينة بلد دولة مكان منطقة مقاطعة محافظة ولاية قارة جزيرة بلدة قرية موقع") + r")\b"
              r"|^[وف]?(?:ما|ماذا) (?:هو |هي )?(?:" + _alt("عاصمة مكان موقع مقر") + r")\b"),
    ("person", r"^[وف]?(?:من|لمن)\b|(?:^|\s)(?:مع|عن|الى|على|بين) من\b|\b(?:who|whom|whose)\b|\b(?:what|which) (?:person|man|woman|company|organi[sz]ation|"
               r"group|team|party|agency|country|leader|president|official|minister)\b"
               r"|(?:^|\s)(?:اي|ايه) (?:" + _alt("شخص شركة منظمة فريق حزب جهة دولة رئيس وزير قائد") + r")\b"
               r"|^[وف]?(?:ما|ماذا) (?:هو |هي )?(?:" + _alt("اسم") + r")\b"),
    ("reason", r"^[وف]?(?:لماذا|لم)\b|(?:^|\s)لماذا\b|\bwhy\b|\bwhat (?:caused|causes|led to|was the reason|is the reason)\b"
               r"|^[وف]?(?:ما|ماذا) (?:هو |هي )?(?:" + _alt("سبب اسباب دافع دوافع") + r")\b"),
    ("manner", r"^[وف]?(?:كيف|بماذا)\b|\bhow\b"),
    ("entity", r"^[وف]?(?:ما|ماذا|اي|ايه)\b|\b(?:what|which)\b"),
]
_QUESTION_RES = [(kind, re.compile(p)) for kind, p in _QUESTION_PATTERNS]


def question_kind(question: str) -> str:
    """One of :data:`KINDS` for ``question`` (Arabic or English)."""
    q = " ".join(fold(question).split())
    q = re.sub(r"^[\W_]+", "", q)
    for kind, rx in _QUESTION_RES:
        if rx.search(q):
            return kind
    return "other"


# ---------------------------------------------------------------------------------- sentence signals ---
_AR_UNITS = ("احد احدى اثني اثنتي واحد واحدة اثنان اثنين اثنتين ثلاث ثلاثة اربع اربعة خمس خمسة ست ستة سبع سبعة ثمان ثماني ثمانية "
             "تسع تسعة عشر عشرة عشرات عشرون عشرين ثلاثون ثلاثين اربعون اربعين خمسون خمسين ستون ستين سبعون "
             "سبعين ثمانون ثمانين تسعون تسعين مئة مائة مئات مئتين مائتين الف الاف الفين الفا مليون ملايين "
             "مليونا مليار مليارات مليارا نصف ربع ثلث ثلثي ثلثا عشرات بضع بضعة مرتين مرتان عدد")
_EN_UNITS = ("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
             "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred hundreds "
             "thousand thousands million millions billion billions trillion dozen dozens half quarter third")
_SCALES = ("الف الاف مليون ملايين مليار مليارات ترليون دينار دنانير دولار دولارات يورو جنيه ريال درهم ليرة "
           "شخص اشخاص جندي جنود قتيل قتلى جريح جرحى مواطن نسمة طن كيلومتر كيلومترا كم متر مترا ميل ساعة ساعات "
           "يوم يوما ايام اسبوع اسابيع شهر اشهر شهور سنة سنوات عام اعوام دقيقة دقائق بالمئة بالمائة المئة "
           "percent per cent thousand million billion dollars dollar euros pounds dinars people km miles metres "
           "meters years months days hours")
_NUMBER_WORD = re.compile(_B + _PRE + r"(?:" + _alt(_AR_UNITS) + r")(?:ا|ان|ين|ات)?" + _E
                          + r"|\b(?:" + _alt(_EN_UNITS) + r")\b")
_DIGITS = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?:\s?%)?")
_YEAR = re.compile(r"(?<!\d)(?:1[0-9]{3}|20[0-9]{2})(?!\d)")
_SCALE = re.compile(r"\s*(?:" + _alt(_SCALES) + r"|%)" + _E)

_MONTHS = "|".join(sorted({fold(w) for w, _ in _MONTH_WORDS if len(w) > 3 or w == "اب"}, key=len, reverse=True))
_MONTH = re.compile(_B + r"[وفبل]?(?:" + _MONTHS + r")" + _E)
_TIME_WORDS = re.compile(
    _B + _PRE + r"(?:" + _alt("اليوم يوم ليلة مساء صباح السبت الاحد الاثنين الثلاثاء الاربعاء الخميس الجمعة قرن القرن صباح مساء "
                              "فجر ظهر منتصف امس غدا حاليا الماضي المقبل القادم عقد العقد عام سنة") + r")" + _E
    + r"|\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|century|decade|"
      r"morning|evening|afternoon|midnight|noon|ago|since|until|during)\b")
_DATE_NUMERIC = re.compile(r"(?<!\d)\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?!\d)")

_PLACE_CUES = re.compile(
    _B + _PRE + r"(?:" + _alt("مدينة مدينه محافظة مقاطعة ولاية دولة بلد بلاد عاصمة منطقة جزيرة قرية بلدة حي شارع "
                              "ميناء مطار اقليم قارة نهر بحر جبل صحراء حدود شمال جنوب شرق غرب وسط ضواحي") + r")" + _E
    + r"|\b(?:city|town|province|state|country|capital|region|island|village|district|street|port|"
      r"airport|river|sea|mountain|border|north|south|east|west|near|in [A-Z]|at [A-Z])\b")
_PERSON_CUES = re.compile(
    _B + _PRE + r"(?:" + _alt(
        "رئيس الرئيس وزير الوزير سفير السفير السفيرة ملك الملك امير الامير شيخ الشيخ دكتور الدكتور سيد السيد "
        "السيدة جنرال الجنرال زعيم الزعيم قائد القائد متحدث المتحدث مستشار المستشار مدير المدير نائب النائب "
        "امين الامين عالم العالم كاتب الكاتب مؤسس المؤسس مدرب المدرب لاعب اللاعب مسؤول المسؤول مسؤولة "
        "الفنان الفنانة الشاعر المؤرخ الباحث البابا الامام الخليفة السلطان القيصر الامبراطور") + r")" + _E
    + r"|" + _B + r"(?:بن|ابن|ابو|ابي|عبد|ال)" + r"\s" + r"|\b(?:president|minister|ambassador|king|queen|prince|"
      r"spokesman|spokeswoman|spokesperson|general|leader|chief|director|professor|dr|mr|mrs|ms)\b")
#: Organisations: the cue word and the adjectives after it are the answer ("وكالة الأنباء المركزية").
_ORG_CUES = re.compile(
    _B + _PRE + r"(?:" + _alt("وكالة منظمة شركة حزب جامعة وزارة مجلس حكومة جمعية لجنة الجيش البرلمان الكونغرس "
                              "الامم الاتحاد حركة جبهة هيئة بنك مؤسسة معهد") + r")" + _E + r"(?:\s+ال[^\W\d_]+){0,3}"
    + r"|\b(?:[A-Z]\w+\s+)*(?:Agency|Company|Organi[sz]ation|Party|University|Ministry|Council|Government|Army|"
      r"Committee)\b")
#: A verb of saying or confirming at the head of a sentence: its subject (the next words) is a "who".
_SAYING = re.compile(
    r"^[\W_]*(?:" + r"|".join(fold(w) for w in (
        "و", "ف", "")) + r")(?:" + _alt(
        "قال قالت اكد اكدت اعلن اعلنت صرح صرحت ذكر ذكرت اوضح اوضحت اشار اشارت كشف كشفت نفى نفت اتهم "
        "اتهمت افاد افادت اضاف اضافت اعتبر اعتبرت طالب طالبت دعا دعت حذر حذرت ابلغ ابلغت اعترف اعترفت "
        "وصف وصفت قرر قررت امر امرت") + r")" + _E)
_REASON_CUES = re.compile(
    _B + _PRE + r"(?:" + _alt("لان بسبب نتيجة اثر جراء بهدف لاجل اجل بفضل بدافع سبب اسباب دفع ادى يعود "
                              "لكي كي حتى بغية") + r")" + _E
    + r"|\b(?:because|due|cause|caused|reason|since|so that|in order|result|owing|thanks to|led to|aim)\b")
_MANNER_CUES = re.compile(
    _B + _PRE + r"(?:" + _alt("عبر خلال بواسطة طريق باستخدام بفضل بطريقة باسلوب عن طريق") + r")" + _E
    + r"|\b(?:by|through|using|via|with|method|way|means)\b")
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:\s+(?:[A-Z][a-z]+|of|al|bin|de|van|von))*")
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class TypeMatch:
    """Where, in the sentence, the asked-for kind of thing is: offsets into the sentence text."""

    span: tuple[int, int]


def _question_words(question: str) -> set[str]:
    """Folded question words (with their clitic-free forms): an answer span should not repeat them."""
    out: set[str] = set()
    for w in _WORD.findall(fold(question)):
        out.add(w)
        for pre in ("وال", "بال", "لل", "ال", "و", "ب"):
            if w.startswith(pre) and len(w) - len(pre) >= 3:
                out.add(w[len(pre):])
    return out - STOPWORDS


def _not_date_number(folded: str, m: re.Match[str]) -> bool:
    """A year or a day of a date ("أغسطس 2024", "5 March") is a time, not an amount."""
    text = m.group(0)
    if _YEAR.fullmatch(text.strip()):
        return False
    around = folded[max(0, m.start() - 14): m.end() + 14]
    return not (_MONTH.search(around) and len(text.strip()) <= 2)


def _extend_scale(folded: str, end: int) -> int:
    """"45 مليون دينار": the amount includes its scale and unit words."""
    for _ in range(2):
        m = _SCALE.match(folded, end)
        if not m:
            break
        end = m.end()
    return end


def _dual_spans(folded: str, skip: set[str]) -> list[tuple[int, int]]:
    """"كم فريقاً؟" → "فريقين": the dual of a noun of the question is a count."""
    duals = set()
    for w in skip:
        stem = w[:-1] + "ت" if w.endswith("ه") else w.rstrip("ا")
        duals.update({stem + "ين", stem + "ان"})
    return [(m.start(), m.end()) for m in _WORD.finditer(folded) if m.group(0) in duals]


def _number_spans(folded: str) -> list[tuple[int, int]]:
    spans = [(m.start(), _extend_scale(folded, m.end())) for m in _DIGITS.finditer(folded)
             if _not_date_number(folded, m)]
    spans += [(m.start(), _extend_scale(folded, m.end())) for m in _NUMBER_WORD.finditer(folded)
              if not fold(m.group(0)).endswith("عدد")]
    return spans


def _time_spans(folded: str) -> list[tuple[int, int]]:
    spans = []
    for m in _MONTH.finditer(folded):
        a, b = m.start(), m.end()
        before = re.search(r"(\d{1,2})\s*(?:من\s+)?$", folded[max(0, a - 8):a])
        after = re.match(r"[\s,،/\-()]*(?:[^\W\d_]+[\s,،/\-()]*)?(\d{4})", folded[b:b + 20])
        if before:
            a -= len(before.group(0))
        if after:
            b += after.end()
        spans.append((a, b))
    spans += [(m.start(), m.end()) for m in _DATE_NUMERIC.finditer(folded)]
    spans += [(m.start(), m.end()) for m in _YEAR.finditer(folded)]
    spans += [(m.start(), m.end()) for m in _TIME_WORDS.finditer(folded)]
    return spans


_NISBA = ("يه", "ي", "يين", "يون", "يان")
#: Words after من/في that are no place: "من جهته" (for his part), "في حين" (while)…
_NOT_PLACE = {fold(w) for w in "جهته جهتها جانبه جانبها ناحيته ناحيتها حين خلال اجل قبل بعد حيث جديد".split()}


def _is_stop(word: str) -> bool:
    """A stopword, also behind a one-letter clitic ("بأن", "وقد")."""
    return word in STOPWORDS or (len(word) > 2 and word[0] in "وفبلك" and word[1:] in STOPWORDS)


def _name_after(folded: str, start: int, skip: set[str]) -> tuple[int, int] | None:
    """The run of words after ``start`` that looks like a name: titles, question words and "ال" words of
    a genitive chain ("المتحدث باسم الكرملين …") are skipped, then up to four words without "ال", up to
    the next punctuation."""
    words: list[tuple[int, int]] = []
    for m in re.finditer(r"[^\W_]+|[^\w\s]", folded[start:start + 120]):
        tok = m.group(0)
        a, b = start + m.start(), start + m.end()
        if not tok[0].isalnum():
            if words:
                break
            continue
        bare = tok
        if not words and (bare.startswith(("ال", "وال", "بال", "لل")) or bare in skip or bare in STOPWORDS
                          or bare in {"باسم", "لدى", "عن"} or _PERSON_CUES.fullmatch(bare)):
            continue
        if len(words) >= 4 or _is_stop(bare):
            break
        if bare.startswith(("ال", "لل")):
            if not words or not bare.endswith(_NISBA):   # "كوريا الشمالية": a name and its adjective
                break
            words.append((a, b))
            break
        words.append((a, b))
    return (words[0][0], words[-1][1]) if words else None


def _person_spans(folded: str, original: str, skip: set[str]) -> list[tuple[int, int]]:
    spans = []
    head = _SAYING.match(folded)
    if head:
        name = _name_after(folded, head.end(), skip)
        # the subject of a saying verb may itself be a country or an agency ("أكدت كوريا الشمالية")
        m = re.match(r"\s*((?:[^\W_]+)(?:\s+ال[^\W_]+)?)", folded[head.end():])
        if name:
            spans.append(name)
        elif m:
            spans.append((head.end() + m.start(1), head.end() + m.end(1)))
    for m in _PERSON_CUES.finditer(folded):
        name = _name_after(folded, m.end(), skip)
        if name:
            spans.append(name)
    spans += [(m.start(), m.end()) for m in _ORG_CUES.finditer(folded)]
    spans += [(m.start(), m.end()) for m in _ORG_CUES.finditer(original) if m.group(0)[:1].isupper()]
    spans += [(m.start(), m.end()) for m in _CAPITALISED.finditer(original)]
    return spans


def _place_spans(folded: str, original: str, skip: set[str]) -> list[tuple[int, int]]:
    spans = []
    for m in _PLACE_CUES.finditer(folded):
        name = _name_after(folded, m.end(), skip)
        spans.append(name or (m.start(), m.end()))
    # "في/إلى/من" + a word without "ال" that is no stopword: Arabic place names are mostly unprefixed
    for m in re.finditer(_B + r"(?:في|الى|من|ب)\s+([^\W\d_]{3,})", folded):
        w = m.group(1)
        if not w.startswith(("ال", "لل")) and not _is_stop(w) and w not in skip and w not in _NOT_PLACE and not _MONTH.fullmatch(w):
            spans.append((m.start(1), m.end(1)))
    spans += [(m.start(), m.end()) for m in re.finditer(r"\b(?:in|at|from|near|to)\s+([A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)",
                                                         original)]
    return spans


def type_spans(kind: str, sentence: str, question: str = "") -> list[tuple[int, int]]:
    """Every place in ``sentence`` that holds the ``kind`` of thing asked, as (start, end) offsets in
    ``sentence``, in reading order; words of the question itself are not an answer."""
    cased, folded, index = fold_map(sentence)
    skip = _question_words(question)
    if kind == "number":
        spans = _number_spans(folded) + _dual_spans(folded, skip)
    elif kind == "time":
        spans = _time_spans(folded)
    elif kind == "person":
        spans = _person_spans(folded, cased, skip)
    elif kind == "place":
        spans = _place_spans(folded, cased, skip)
    elif kind == "reason":
        spans = [(m.start(), min(len(folded), m.end() + 40)) for m in _REASON_CUES.finditer(folded)]
    elif kind == "manner":
        spans = [(m.start(), min(len(folded), m.end() + 40)) for m in _MANNER_CUES.finditer(folded)]
    else:
        return []
    out: list[tuple[int, int]] = []
    for a, b in sorted(set(spans)):
        if a >= b or _only_question_words(folded[a:b], skip):
            continue
        a, b = _trim(sentence, index[a], index[b - 1] + 1)
        if a >= b:
            continue
        if out and (a <= out[-1][1] or (kind == "time" and not sentence[out[-1][1]:a].strip())):
            out[-1] = (out[-1][0], max(out[-1][1], b))   # "اليوم الخميس", "45 مليون دينار": one span
        else:
            out.append((a, b))
    return out


def mentions_month(text: str) -> bool:
    """Whether ``text`` names a month (any of the calendars index/dates.py reads)."""
    return bool(_MONTH.search(fold(text)))


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    """Punctuation and spaces off both ends; diacritics after the last letter stay ("يوماً")."""
    while a < b and not text[a].isalnum():
        a += 1
    while b > a and not (text[b - 1].isalnum() or text[b - 1] == "%"):
        b -= 1
    while b < len(text) and ord(text[b]) in _DIACRITICS:
        b += 1
    return a, b


def _only_question_words(folded_span: str, skip: set[str]) -> bool:
    words = [w for w in _WORD.findall(folded_span)]
    return bool(words) and all(w in skip for w in words)


def answer_span(kind: str, sentence: str, question: str = "") -> tuple[int, int] | None:
    """The short answer inside ``sentence`` (offsets into it), or None when nothing of the kind is there:
    the first match, which in news sentences is nearest the claim."""
    spans = type_spans(kind, sentence, question)
    if not spans:
        return None
    if kind in {"reason", "manner"}:
        a, b = spans[0]
        end = _clause_end(sentence, a)
        return a, max(b, end) if end > a else b
    return spans[0]


def _clause_end(text: str, start: int) -> int:
    """The end of the clause starting at ``start``: the next comma, semicolon or sentence end."""
    m = re.search(r"[،,;؛.!?؟]", text[start:])
    return start + m.start() if m else len(text)


# ------------------------------------------------------------------------------------------ place names ---
#: Countries, regions and cities that news questions name. A question asking about one of them ("موقف
#: الصين") over passages that never name it is not answered by them, however on topic they are.
_PLACE_NAMES = {fold(w) for w in """
الصين روسيا امريكا أمريكا الولايات المتحدة بريطانيا فرنسا ألمانيا المانيا إيطاليا ايطاليا إسبانيا اسبانيا
اليابان الهند باكستان إيران ايران العراق سوريا سورية لبنان الأردن الاردن فلسطين إسرائيل اسرائيل مصر ليبيا
تونس الجزائر المغرب موريتانيا السودان اليمن السعودية الإمارات الامارات قطر الكويت البحرين عمان تركيا
أوكرانيا اوكرانيا بيلاروسيا بولندا كوريا اليابان فيتنام إندونيسيا اندونيسيا ماليزيا أفغانستان افغانستان
البرازيل الأرجنتين الارجنتين المكسيك كندا أستراليا استراليا نيجيريا إثيوبيا اثيوبيا كينيا الصومال تشاد
مالي النيجر السنغال جنوب أفريقيا افريقيا أوروبا اوروبا آسيا اسيا الخليج
بكين موسكو واشنطن لندن باريس برلين روما مدريد طوكيو نيودلهي طهران بغداد دمشق بيروت عمان القدس غزة
القاهرة طرابلس تونس الجزائر الرباط الخرطوم صنعاء الرياض جدة مكة دبي أبوظبي ابوظبي الدوحة الكويت المنامة
مسقط أنقرة انقرة إسطنبول اسطنبول كييف مينسك وارسو بيونغ سيول البصرة الموصل أربيل اربيل كركوك النجف
كربلاء حلب حمص إدلب ادلب الفلوجة الرمادي
""".split()}


#: The same places in English, for English questions over Arabic passages.
_PLACE_NAMES_EN = set("""
china russia america usa britain england france germany italy spain japan india pakistan iran iraq syria
lebanon jordan palestine israel egypt libya tunisia algeria morocco mauritania sudan yemen saudi emirates
qatar kuwait bahrain oman turkey ukraine belarus poland korea vietnam indonesia malaysia afghanistan brazil
argentina mexico canada australia nigeria ethiopia kenya somalia chad mali niger senegal africa europe asia
beijing moscow washington london paris berlin rome madrid tokyo delhi tehran baghdad damascus beirut amman
jerusalem gaza cairo tripoli rabat khartoum sanaa riyadh jeddah mecca dubai doha ankara istanbul kyiv kiev
minsk warsaw pyongyang seoul basra mosul erbil kirkuk aleppo homs idlib
""".split())


def place_names(words: list[str]) -> list[str]:
    """The ``words`` that name a country, region or city of :data:`_PLACE_NAMES` (clitics و/ب/ل/ف
    allowed in front)."""
    out = []
    for w in words:
        f = fold(w)
        if f in _PLACE_NAMES_EN or f.removesuffix("'s") in _PLACE_NAMES_EN:
            out.append(w)
        elif f in _PLACE_NAMES or (len(f) > 3 and f[0] in "وبلف" and f[1:] in _PLACE_NAMES):
            out.append(w)
    return out


# ------------------------------------------------------------------------------------------ fragments ---
_VERB_HINT = re.compile(
    _B + r"(?:[وف]?(?:ي|ت|ن)[^\W\d_]{3,}|[وف]?" + r"(?:" + _alt(
        "قال قالت اكد اكدت اعلن اعلنت كان كانت اصبح اصبحت تم") + r"))" + _E
    + r"|\b(?:is|was|are|were|has|had|have|said|says|will|did|does|do|can|could|would|\w+ed)\b")
#: Below this many words a "sentence" needs a verb to be quoted (a heading, a name, "صالح" is not an answer).
MIN_WORDS = 4


def is_fragment(sentence: str) -> bool:
    """True for a line that is no sentence: fewer than MIN_WORDS words and no verb."""
    folded = fold(sentence)
    words = _WORD.findall(folded)
    if len(words) >= MIN_WORDS:
        return False
    return len(words) < 2 or not _VERB_HINT.search(folded)
