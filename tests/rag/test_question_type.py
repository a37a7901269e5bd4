"""The cheap answer-type signals: what a question asks for, and where a sentence holds it (offsets exact
even with diacritics and Arabic-Indic digits)."""
from __future__ import annotations

import pytest

from rag.answer.crossling import english_keys, missing_names, overlap
from rag.answer.question_type import answer_span, is_fragment, question_kind, type_spans


@pytest.mark.parametrize("question, kind", [
    ("من هو المتحدث باسم الكرملين؟", "person"), ("Who is the Kremlin spokesman?", "person"),
    ("مع من أقام تسلا شراكة في 1886؟", "person"),
    ("ومتى حدث ذلك؟", "time"), ("منذ متى دخلت البكتيريا الخلية؟", "time"), ("في أي عام تأسست الجامعة؟", "time"),
    ("When did that happen?", "time"), ("In which year was it built?", "time"),
    ("أين؟", "place"), ("ما هي عاصمة البرازيل؟", "place"), ("Where did the troops fight?", "place"),
    ("What is the capital of Brazil?", "place"),
    ("كم عدد الجنود الكوريين الشماليين الذين قتلوا في كورسك؟", "number"), ("ما عدد سكان المدينة؟", "number"),
    ("How much did the Aqaba desalination plant cost?", "number"), ("على كم مرة اتفق الراهب؟", "number"),
    ("لماذا استقال الوزير؟", "reason"), ("Why did he resign?", "reason"),
    ("كيف وصل إلى هناك؟", "manner"), ("How did he get there?", "manner"),
    ("ما هو موقف الصين من المفاوضات؟", "entity"), ("Which treaty was signed?", "entity"),
])
def test_question_kinds(question, kind):
    assert question_kind(question) == kind


def test_amounts_are_numbers_and_dates_are_not():
    s = "بلغت كلفة المشروع ٤٥ مليون دينار في أغسطس 2024، وسيعمل خلال تسعين يوماً."
    found = [s[a:b] for a, b in type_spans("number", s)]
    assert found[0] == "٤٥ مليون دينار"                     # Arabic-Indic digits, with scale and unit
    assert "تسعين يوماً" in found                               # number words with their unit
    assert not any("2024" in f for f in found)              # a year is a time, not an amount
    assert [s[a:b] for a, b in type_spans("time", s)] == ["أغسطس 2024"]
    assert type_spans("number", "وكانت القوات قد سيطرت على أجزاء من كورسك منذ أغسطس 2024.") == []


def test_offsets_survive_diacritics():
    s = "وَقَالَ المُتَحَدِّثُ باسم الكرملين دميتري بيسكوف إنَّ القوات انسحبت يومَ الخميس."
    a, b = answer_span("person", s, "من هو المتحدث باسم الكرملين؟")
    assert s[a:b] == "دميتري بيسكوف"
    a, b = answer_span("time", s)
    assert s[a:b] == "يومَ الخميس"                                # diacritics kept in the span


def test_who_answers_are_people_or_organisations_and_not_the_question_words():
    q = "من هي السفيرة الأمريكية لدى الأمم المتحدة؟"
    s = "اكدت السفيرة الأمريكية لدى الأمم المتحدة ليندا توماس غرينفيلد، اليوم الخميس، أن روسيا تتقدم."
    a, b = answer_span("person", s, q)
    assert s[a:b] == "ليندا توماس غرينفيلد"
    s2 = "أكدت كوريا الشمالية للمرة الأولى رسمياً إرسال قوات إلى روسيا."
    a, b = answer_span("person", s2, "Who confirmed it?")
    assert s2[a:b] == "كوريا الشمالية"
    assert answer_span("person", "The plant cost 45 million dinars, said Ahmed Saleh.") is not None


def test_fragments():
    for text in ["صالح", "المصدر: السومرية", "إقرأ أيضاً:", "Reuters"]:
        assert is_fragment(text), text
    for text in ["أكدت كوريا الشمالية إرسال قوات.", "Saleh said.", "وقال المحافظ إن المشروع سيخدم الآلاف."]:
        assert not is_fragment(text), text


def test_english_names_meet_their_arabic_transliterations():
    keys = english_keys("Who is the Kremlin spokesman?")
    assert overlap(keys, "صرح المتحدث باسم الكرملين دميتري بيسكوف بأن القوات انسحبت.") == 1.0
    assert overlap(keys, "وكشفت أن الرئيسين تبادلا الرسائل.") == 0.0
    confirm = english_keys("Who confirmed that North Korean troops fought in Kursk?")
    assert overlap(confirm, "أكدت كوريا الشمالية للمرة الأولى رسمياً إرسال قوات إلى روسيا") > \
        overlap(confirm, "وأوضحت الوكالة أن وحدات شاركت في عمليات في روسيا")
    assert missing_names(english_keys("What is the capital of Brazil?"), ["شاركت في معارك كورسك.. كوريا الشمالية"]) \
        == ["Brazil"]
    assert missing_names(english_keys("Where is Kursk?"), ["مقاطعة كورسك الروسية"]) == []
