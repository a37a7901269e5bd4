"""User-facing messages in the question's language (Arabic or English)."""
from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "refusal": {
        "ar": "لا يتضمن الأرشيف إجابة عن هذا السؤال. أقرب المقاطع إليه معروضة أدناه بوصفها «قد تكون ذات صلة».",
        "en": "The archive does not contain an answer to this question. The nearest passages are shown "
              "below as possibly related.",
    },
    "related": {"ar": "قد تكون ذات صلة", "en": "Possibly related"},
    "sources": {"ar": "المصادر", "en": "Sources"},
    "no_index": {
        "ar": "لا يوجد فهرس في {path}. أنشئه بالأمر: rag index build seeds/",
        "en": "no index at {path}: build one with `rag index build seeds/`",
    },
    "empty_question": {"ar": "السؤال فارغ.", "en": "the question is empty"},
    "fallback": {
        "ar": "تعذّر الحصول على إجابة من النموذج اللغوي ({reason})؛ هذه إجابة مستخرجة من النصوص مباشرة.",
        "en": "The language model could not answer ({reason}); this is the extractive answer instead.",
    },
    # What the check established about an LLM answer sentence (rag.answer.labels); only the first two are
    # shown as confirmed.
    "label.quoted": {"ar": "مقتبس من المقطع", "en": "quoted"},
    "label.supported": {"ar": "مدعوم بالمقطع", "en": "supported"},
    "label.related": {"ar": "ذو صلة، غير مؤكَّد", "en": "related, not confirmed"},
    "label.unsupported": {"ar": "غير مدعوم", "en": "unsupported"},
    "evidence": {"ar": "كل جملة بجانب ما تستند إليه", "en": "Each sentence beside what it rests on"},
    "related_note": {
        "ar": "{n} من جمل هذه الإجابة ذات صلة بمقاطعها لكن لم يمكن تأكيدها (أسماء أو ادعاء لم تُطابَق)؛ "
              "قارنها بالجمل المعروضة بجانبها.",
        "en": "{n} sentence(s) of this answer are related to their passages but could not be confirmed "
              "(a name or claim not matched): read them against the sentences shown beside them.",
    },
}


def message(key: str, lang: str, **values: str) -> str:
    table = MESSAGES[key]
    return table.get(lang, table["en"]).format(**values)
