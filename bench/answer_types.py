"""How well the cheap answer-type signals (rag/answer/question_type.py) separate the sentence holding the
gold answer from the other sentences of its paragraph, per question kind, on the SQuAD-format dev sets.

No embedding is involved (seconds per set), so this is where the signal lists were checked: for each
question, the kind its wording asks for; whether the gold sentence holds that kind ("gold holds"); the share
of the paragraph's other sentences that hold it too ("others hold": lower is a sharper signal); and whether
the answer span found in the gold sentence overlaps the gold answer ("span hits gold").

    .venv/bin/python bench/answer_types.py [--json] [--smoke]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.arabic import split_sentences  # noqa: E402
from rag.answer.question_type import answer_span, question_kind, type_spans  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {
    "xquad-ar": (DATA / "xquad-ar/xquad.ar.json", None),
    "xquad-en-q": (DATA / "xquad-ar/xquad.ar.json", DATA / "xquad-ar/xquad.en.json"),
    "arcd-train": (DATA / "arcd-train/arcd-train.json", None),
    "mlqa-ar": (DATA / "mlqa-ar-dev/mlqa-ar.json", None),
    "mlqa-en-q": (DATA / "mlqa-ar-dev/mlqa-ar.json", DATA / "mlqa-ar-dev/mlqa-ar-q-en.json"),
}


def study(path: Path, questions_from: Path | None, limit: int | None = None) -> dict[str, dict[str, float]]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    other: dict[str, str] = {}
    if questions_from:
        for art in json.loads(questions_from.read_text(encoding="utf-8"))["data"]:
            for para in art["paragraphs"]:
                other.update({qa["id"]: qa["question"] for qa in para["qas"]})
    stats: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0])  # n, gold holds, others, others hold, span hit
    seen = 0
    for art in data:
        for para in art["paragraphs"]:
            ctx = para["context"]
            sents = split_sentences(ctx)
            for qa in para["qas"]:
                if limit and seen >= limit:
                    break
                seen += 1
                q = other.get(qa["id"], qa["question"])
                kind = question_kind(q)
                ans = qa["answers"][0]
                a0, a1 = ans["answer_start"], ans["answer_start"] + len(ans["text"])
                gold = next(((s, e) for s, e in sents if s <= a0 < e), None)
                if gold is None:
                    continue
                st = stats[kind]
                st[0] += 1
                g = ctx[gold[0]:gold[1]]
                st[1] += bool(type_spans(kind, g, q))
                span = answer_span(kind, g, q)
                if span and gold[0] + span[0] < a1 and gold[0] + span[1] > a0:
                    st[4] += 1
                for s, e in sents:
                    if (s, e) != gold:
                        st[2] += 1
                        st[3] += bool(type_spans(kind, ctx[s:e], q))
    out = {}
    for kind, (n, gh, o, oh, hit) in sorted(stats.items()):
        out[kind] = {"questions": int(n), "gold_holds": round(gh / n, 3) if n else 0.0,
                     "others_hold": round(oh / o, 3) if o else 0.0, "span_hits_gold": round(hit / n, 3) if n else 0.0}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="50 questions of the first set found")
    args = ap.parse_args()
    results = {}
    for name, (path, qfrom) in SETS.items():
        if not path.exists():
            continue
        results[name] = study(path, qfrom, 50 if args.smoke else None)
        if args.smoke:
            break
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("| set | kind | questions | gold sentence holds it | other sentences hold it | span overlaps gold |")
    print("|---|---|---|---|---|---|")
    for name, kinds in results.items():
        for kind, r in kinds.items():
            print(f"| {name} | {kind} | {r['questions']} | {r['gold_holds']:.3f} | {r['others_hold']:.3f} | "
                  f"{r['span_hits_gold']:.3f} |")


if __name__ == "__main__":
    main()
