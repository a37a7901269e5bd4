"""Shared words between an English question and an Arabic sentence, without a dictionary model.

Why: across scripts the keyword overlap that ranks sentences for an Arabic question is always zero, so
"Who is the Kremlin spokesman?" was left to the sentence embedding alone and got a sentence about Putin's
letters instead of the one naming Peskov. Two cheap bridges carry most of what matters in news:

* names are transliterated: "Kremlin" ↔ "الكرملين", "Kursk" ↔ "كورسك", "Peskov" ↔ "بيسكوف". Both sides are
  reduced to a consonant skeleton (English vowels, Arabic long vowels and the article dropped, letters
  mapped to one class per sound: p/b → B, k/q/c → K, v/f → F…) and compared;
* the verbs of reporting that open news sentences ("confirmed" ↔ "أكد", "said" ↔ "قال") come from a short
  list, matched against the head of the sentence, and a few dozen common news nouns (roles, forces,
  directions: "spokesman" ↔ "المتحدث") anywhere in it.

The result is an overlap share like the same-script keyword overlap, so it plugs into the same weight.
"""
from __future__ import annotations

import re

from index.arabic import STOPWORDS

# English sound classes. Digraphs first.
_EN_DIGRAPHS = [("sh", "S"), ("ch", "S"), ("th", "T"), ("kh", "H"), ("gh", "J"), ("ph", "F"), ("ck", "K"),
                ("ts", "TS"), ("dh", "D"), ("zh", "J")]
_EN = {"b": "B", "p": "B", "t": "T", "d": "D", "k": "K", "c": "K", "q": "K", "g": "J", "j": "J", "f": "F",
       "v": "F", "s": "S", "z": "Z", "x": "KS", "h": "H", "m": "M", "n": "N", "l": "L", "r": "R"}
_AR = {"ب": "B", "پ": "B", "ت": "T", "ط": "T", "ث": "T", "د": "D", "ض": "D", "ذ": "D", "ك": "K", "ق": "K",
       "غ": "J", "ج": "J", "ف": "F", "ڤ": "F", "س": "S", "ص": "S", "ش": "S", "ز": "Z", "ظ": "Z", "ح": "H",
       "خ": "H", "ه": "H", "م": "M", "ن": "N", "ل": "L", "ر": "R"}
_AR_PREFIXES = ("وال", "بال", "فال", "كال", "لل", "ال")   # not a bare و/ب: "بوتين", "بيسكوف"
_AR_SUFFIXES = ("يين", "يون", "ية", "يه", "ي", "ة")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_ARABIC_WORD = re.compile(r"[\u0621-\u064A\u0671-\u06D3]+")

#: English verbs of reporting → the Arabic stems that open the same news sentences.
_REPORTING = {
    "confirm": ("اكد", "أكد"), "said": ("قال", "صرح", "ذكر"), "say": ("قال", "صرح", "ذكر"),
    "announce": ("اعلن", "أعلن"), "deny": ("نفى", "نفت"), "denied": ("نفى", "نفت"), "accuse": ("اتهم",),
    "reveal": ("كشف",), "warn": ("حذر",), "state": ("صرح", "ذكر", "قال"), "declare": ("اعلن", "أعلن"),
    "report": ("افاد", "أفاد", "ذكر"), "praise": ("اشاد", "أشاد"), "admit": ("اعترف",), "claim": ("زعم", "ادعى"),
    "call": ("دعا", "طالب"), "demand": ("طالب",), "order": ("امر", "أمر"), "threaten": ("هدد",),
}


#: Common news nouns → Arabic stems found inside the sentence's words (roles, forces, directions).
_NOUNS = {
    "spokesman": ("متحدث",), "spokeswoman": ("متحدث",), "spokesperson": ("متحدث",), "ambassador": ("سفير",),
    "president": ("رئيس",), "minister": ("وزير",), "king": ("ملك",), "army": ("جيش",), "troops": ("قوات",),
    "forces": ("قوات",), "soldiers": ("جنود", "جندي"), "agency": ("وكال",), "government": ("حكوم",),
    "north": ("شمال",), "south": ("جنوب",), "east": ("شرق",), "west": ("غرب",), "leader": ("زعيم", "قائد"),
    "weapons": ("اسلح", "أسلح"), "ammunition": ("ذخير",), "negotiations": ("مفاوض",), "talks": ("محادث",),
    "war": ("حرب",), "police": ("شرط",), "election": ("انتخاب",), "killed": ("قتل",), "price": ("سعر",),
    "cost": ("كلف", "تكلف"), "plant": ("محط",), "water": ("مياه", "ماء"), "oil": ("نفط",), "school": ("مدرس",),
    "hospital": ("مستشف",), "company": ("شرك",), "bank": ("بنك", "مصرف"), "court": ("محكم",),
}
#: English adjective endings: "Korean" → "Kore" (كوري), "Ukrainian" → "Ukrain" (أوكراني), "Iraqi" → "Iraq".
_EN_ADJ = ("ians", "ian", "ans", "an", "ese", "ish", "i")


def _en_skeleton(word: str) -> str:
    w = word.lower()
    for suffix in _EN_ADJ:
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            w = w[: -len(suffix)]
            break
    for a, b in _EN_DIGRAPHS:
        w = w.replace(a, b.lower() + "\0")
    out = []
    for ch in w.replace("\0", ""):
        out.append(_EN.get(ch, "" if ch.isalpha() else ""))
    return _squeeze("".join(out))


def _ar_skeleton(word: str) -> str:
    for p in _AR_PREFIXES:
        if word.startswith(p) and len(word) - len(p) >= 3:
            word = word[len(p):]
            break
    for s in _AR_SUFFIXES:
        if word.endswith(s) and len(word) - len(s) >= 3:
            word = word[: -len(s)]
            break
    return _squeeze("".join(_AR.get(ch, "") for ch in word))


def _squeeze(s: str) -> str:
    return re.sub(r"(.)\1+", r"\1", s)


def _close(a: str, b: str) -> bool:
    """Two skeletons of one name: equal, or one the other plus a final consonant ("Korean" ↔ "كوري")."""
    if len(a) < 2 or len(b) < 2:
        return False
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 4 and len(long_) - len(short) == 1 and long_.startswith(short)


def english_keys(question: str) -> list[tuple[str, str, str]]:
    """The question's bridgeable words as (kind, key, word): ("name", skeleton) for capitalised words,
    ("verb", v) for reporting verbs and ("noun", n) for the common news nouns. Empty for a question without
    Latin letters."""
    keys: list[tuple[str, str, str]] = []
    words = _LATIN_WORD.findall(question)
    for i, w in enumerate(words):
        low = w.lower()
        verb = next((v for v in _REPORTING if low.startswith(v)), None)
        if verb:
            keys.append(("verb", verb, w))
        elif low in _NOUNS:
            keys.append(("noun", low, w))
        elif w[0].isupper() and i > 0 and low not in STOPWORDS and len(w) > 2:
            sk = _en_skeleton(w)
            if len(sk) >= 2:
                keys.append(("name", sk, w))
    return list(dict.fromkeys(keys))


def _held(keys: list[tuple[str, str, str]], text: str, head_only_verbs: bool = True) -> list[bool]:
    words = _ARABIC_WORD.findall(text)
    skeletons = {_ar_skeleton(w) for w in words}
    head = [w.lstrip("وف") for w in (words[:3] if head_only_verbs else words)]
    out = []
    for kind, key, _ in keys:
        if kind == "verb":
            out.append(any(h.startswith(stem) for stem in _REPORTING[key] for h in head))
        elif kind == "noun":
            out.append(any(stem in w for stem in _NOUNS[key] for w in words))
        else:
            out.append(any(_close(key, s) for s in skeletons))
    return out


def overlap(keys: list[tuple[str, str, str]], sentence: str) -> float:
    """Share of ``keys`` the Arabic ``sentence`` holds (reporting verbs only at its head)."""
    return sum(_held(keys, sentence)) / len(keys) if keys else 0.0


def missing_names(keys: list[tuple[str, str, str]], texts: list[str]) -> list[str]:
    """The question's names (as written) that none of ``texts`` transliterates: "Brazil" over passages
    that never name البرازيل."""
    names = [k for k in keys if k[0] == "name"]
    held = [False] * len(names)
    for t in texts:
        held = [a or b for a, b in zip(held, _held(names, t))]
    return [k[2] for k, h in zip(names, held) if not h]
