"""A tiny corpus for the server-backend tests: the two seed articles plus a JSONL of four short dated,
undated and multi-source articles (so date, source and undated filters each select something)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import SEED_DIR

ARTICLES = [
    {"id": "ahram-1", "title": "البنك المركزي المصري يرفع أسعار الفائدة", "date": "2024-03-01", "source": "الأهرام",
     "text": "قرر البنك المركزي المصري رفع أسعار الفائدة بمقدار ستة في المئة في اجتماع استثنائي. "
             "وقال محافظ البنك إن القرار يهدف إلى كبح التضخم وتوحيد سعر صرف الجنيه. "
             "ورحب صندوق النقد الدولي بالخطوة وأعلن زيادة قيمة القرض المقدم إلى مصر."},
    {"id": "ahram-2", "title": "الأهلي يفوز على الزمالك في نهائي الكأس", "date": "2023-05-10",
     "source": "الأهرام المسائي",
     "text": "فاز النادي الأهلي على الزمالك بهدفين مقابل هدف في نهائي كأس مصر لكرة القدم. "
             "وسجل مهاجم الأهلي هدف الفوز في الدقيقة الأخيرة من المباراة على استاد القاهرة."},
    {"id": "wire-3", "title": "نتائج الانتخابات المحلية في العراق", "source": "رويترز",
     "text": "أعلنت المفوضية العليا المستقلة للانتخابات في العراق النتائج الأولية لانتخابات مجالس المحافظات. "
             "وحصل ائتلاف دولة القانون على أكبر عدد من المقاعد في بغداد، وبلغت نسبة المشاركة واحدا وأربعين في المئة."},
    {"id": "ahram-4", "title": "افتتاح المتحف المصري الكبير", "date": "2024-11-02", "source": "الأهرام",
     "text": "افتتحت مصر المتحف المصري الكبير قرب أهرامات الجيزة بحضور رؤساء دول وحكومات. "
             "ويضم المتحف مجموعة الملك توت عنخ آمون كاملة لأول مرة."},
]

QUESTIONS = [
    "لماذا رفع البنك المركزي المصري أسعار الفائدة؟",
    "من فاز في نهائي كأس مصر؟",
    "ما نسبة المشاركة في انتخابات مجالس المحافظات في العراق؟",
    "هل أرسلت كوريا الشمالية قوات إلى روسيا؟",
    "Who won the Egypt Cup final?",
]


def make_corpus(folder: Path) -> Path:
    """The corpus in ``folder`` (created): seeds/ copied and news.jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SEED_DIR, folder / "seeds")
    with open(folder / "news.jsonl", "w", encoding="utf-8") as fh:
        for a in ARTICLES:
            fh.write(json.dumps(a, ensure_ascii=False) + "\n")
    return folder
