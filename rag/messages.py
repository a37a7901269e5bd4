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
    "chat_intro": {
        "ar": "اطرح سؤالاً (بالعربية أو الإنجليزية). /help يعرض الأوامر.",
        "en": "Ask a question (Arabic or English). /help lists the commands.",
    },
    "chat_help": {
        "ar": "الأوامر:\n  /new    محادثة جديدة (تنسى الأسئلة السابقة)\n  /help   هذه القائمة\n"
              "  /quit   خروج (أو Ctrl-D)\nأي سطر آخر سؤال؛ الأسئلة اللاحقة («ومتى حدث ذلك؟») تستند إلى ما سبقها.",
        "en": "Commands:\n  /new    start a new conversation (forget the previous questions)\n"
              "  /help   this list\n  /quit   leave (or Ctrl-D)\n"
              "Any other line is a question; follow-ups (\"when did that happen?\") use the previous ones.",
    },
    "new_conversation": {"ar": "— محادثة جديدة —", "en": "— new conversation —"},
    "searched": {"ar": "(بحثتُ عن: {query})", "en": "(searched: {query})"},
    "empty_question": {"ar": "السؤال فارغ.", "en": "the question is empty"},
    "no_match": {
        "ar": "لا توجد مقالات تطابق {filters}، فلا شيء يُجاب منه.",
        "en": "No articles match {filters}, so there is nothing to answer from.",
    },
    "undated": {
        "ar": "استُبعد {n} من المقالات غير المؤرّخة بفعل مرشّح التاريخ؛ الخيار ‎--include-undated يُبقيها.",
        "en": "{n} undated articles were left out by the date filter; --include-undated keeps them.",
    },
    "undated_one": {
        "ar": "استُبعد مقال واحد غير مؤرّخ بفعل مرشّح التاريخ؛ الخيار ‎--include-undated يُبقيه.",
        "en": "1 undated article was left out by the date filter; --include-undated keeps it.",
    },
    "fallback": {
        "ar": "تعذّر الحصول على إجابة من النموذج اللغوي ({reason})؛ هذه إجابة مستخرجة من النصوص مباشرة.",
        "en": "The language model could not answer ({reason}); this is the extractive answer instead.",
    },
}


def message(key: str, lang: str, **values: str) -> str:
    table = MESSAGES[key]
    return table.get(lang, table["en"]).format(**values)
