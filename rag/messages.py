"""User-facing messages in the question's language (Arabic or English)."""
from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "refusal": {
        "ar": "لا يتضمن الأرشيف إجابة عن هذا السؤال. أقرب المقاطع إليه معروضة أدناه بوصفها «قد تكون ذات صلة».",
        "en": "The archive does not contain an answer to this question. The nearest passages are shown "
              "below as possibly related.",
    },
    "refusal_missing": {
        "ar": "لا يتضمن الأرشيف إجابة عن هذا السؤال: المقاطع الأقرب إليه لا تذكر {what}.",
        "en": "The archive does not contain an answer to this question: the nearest passages do not mention "
              "{what}.",
    },
    "refusal_kind": {
        "ar": "لا يتضمن الأرشيف إجابة عن هذا السؤال: المقاطع الأقرب إليه لا تذكر {what}.",
        "en": "The archive does not contain an answer to this question: the nearest passages give {what}.",
    },
    "covers": {
        "ar": "ما يتناوله الأرشيف في هذا الشأن: {topics}. هذه المقاطع معروضة أدناه بوصفها «قد تكون ذات صلة».",
        "en": "What the archive does cover: {topics}. Those passages are shown below as possibly related.",
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


#: What a refusal says was not found, per asked kind (rag/answer/question_type.py).
KIND_NAMES: dict[str, dict[str, str]] = {
    "number": {"ar": "أي عدد أو رقم", "en": "no number"},
    "time": {"ar": "أي تاريخ أو وقت", "en": "no date or time"},
    "place": {"ar": "أي مكان", "en": "no place"},
    "person": {"ar": "أي شخص أو جهة", "en": "no person or organisation"},
    "reason": {"ar": "أي سبب", "en": "no reason"},
    "manner": {"ar": "كيف حدث ذلك", "en": "no account of how it happened"},
}


def message(key: str, lang: str, **values: str) -> str:
    table = MESSAGES[key]
    return table.get(lang, table["en"]).format(**values)


def quote(text: str, lang: str) -> str:
    """A quoted word or title: «…» in Arabic, “…” in English."""
    return f"«{text}»" if lang == "ar" else f"“{text}”"


def refusal_sentences(lang: str, missing: list[str] | None = None, kind: str | None = None,
                      topics: list[str] | None = None) -> list[str]:
    """The refusal, in the question's language: what was asked and not found (the question's words no
    passage names, else the kind of answer none holds), then what the nearest passages are about."""
    lang = "ar" if lang == "ar" else "en"
    sep = "، " if lang == "ar" else ", "
    if missing:
        first = message("refusal_missing", lang, what=sep.join(quote(w, lang) for w in missing[:3]))
    elif kind in KIND_NAMES:
        first = message("refusal_kind", lang, what=KIND_NAMES[kind][lang])
    else:
        return [message("refusal", lang)]
    if not topics:
        return [first]
    return [first, message("covers", lang, topics=("؛ " if lang == "ar" else "; ").join(
        quote(t, lang) for t in topics[:3]))]
