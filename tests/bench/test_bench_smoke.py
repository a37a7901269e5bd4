"""The benchmarks' smoke runs: every script end to end on tiny data, so the scripts do not rot.

Benchmarks are not tests: the figures come from the full runs (bench/README.md); here only that each
script runs and writes a well-formed result. One scratch folder is shared so small indexes are built once.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.common import data_dir

pytestmark = pytest.mark.skipif(data_dir() is None, reason="shared/data (ANT, XQuAD-ar) not found")


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench")


def _run(module, out: Path) -> dict:
    result = module.main(["--smoke", "--out", str(out)])
    name = result["benchmark"]
    on_disk = json.loads((out / f"{name}-smoke.json").read_text(encoding="utf-8"))
    assert on_disk["smoke"] is True and on_disk["machine"]["cores"] and on_disk["command"]
    return result


def test_build_and_incremental(out):
    from bench import build

    r = _run(build, out)
    assert r["build"]["chunks_embedded"] == r["build"]["chunks"] > 0
    assert 0 < r["ratio"]["chunks_per_s"]
    steps = r["incremental"]["steps"]
    assert [s["only_new_chunks_embedded"] for s in steps] == [True] * len(steps)
    assert steps[3]["removed"] == 2 and steps[3]["chunks_embedded"] == 0


def test_quality(out):
    from bench import quality

    r = _run(quality, out)
    assert r["runs"]["ar/ant+xquad"]["chunks"] > r["runs"]["ar/xquad"]["chunks"]
    assert 0 <= r["runs"]["ar/xquad"]["hybrid"]["R@5"] <= 1


def test_scale(out):
    from bench import scale

    r = _run(scale, out)
    assert r["chunks"] >= 2000
    assert r["removal"]["still_listed"] == 0 and r["removal"]["returned_by_search_after"] == 0
    assert "nprobe=2" in r["sweep"]


def test_latency(out):
    from bench import latency

    r = _run(latency, out)
    sizes = list(r["sizes"].values())
    assert len(sizes) == 2 and all(s["retrieval"]["n"] == 6 and s["peak_rss_mb"] > 0 for s in sizes)
    assert "retrieval_ivf" in sizes[1]
    assert r["cold_rag_ask"]["median_s"] > 0


def test_langchain_baseline(out):
    from bench import langchain_baseline

    r = _run(langchain_baseline, out)
    assert r["build"]["langchain"]["chunks"] > 0 and r["latency"]["langchain"]["n"] == 6
    assert set(r["quality"]["ar"]) == {"ours_hybrid", "ours_dense", "langchain"}


def test_st_tokenizer_agreement(out):
    from bench import st_agreement

    r = _run(st_agreement, out)
    t = r["tokens"]
    assert t["passage_mismatches"] == 0 and t["query_mismatches"] == 0 and t["passages"] > 0


def test_retrieval_variants(out):
    from bench import retrieval_variants

    r = _run(retrieval_variants, out)
    runs = {(x["language"], x["index"]): x["variants"] for x in r["runs"]}
    assert len(runs) == 4 and all(0 <= v["product"]["R@5"] <= 1 for v in runs.values())
    assert "lang_shift" not in runs[("ar", "idx-xquad")]  # English only, and the smoke's one page has no 2nd fold
    assert {"product", "sparse_leg"} == set(r["sparse_leg"]["ar/idx-xquad"]["variants"])


def test_query_encoder(out):
    from bench import query_encoder

    r = _run(query_encoder, out)
    tokens = [row["tokens"] for row in r["sweep"]]
    assert tokens == sorted(tokens) and tokens[0] < tokens[-1]
    assert all(s["embed"]["n"] == r["questions"] for s in r["settings"].values())


def test_report_renders(out):
    """Runs last in this module: every smoke result above is in ``out`` and gets its section."""
    from bench import report

    headings = [line for line in report.render(out, smoke=True).splitlines() if line.startswith("### ")]
    for name in ("Build throughput", "Query latency", "The question embedding", "Quality at scale",
                 "Retrieval variants tried", "Side by side", "Scale path"):
        assert any(name in h for h in headings), (name, headings)


def test_native_retrieval(out):
    from bench import native_retrieval

    r = _run(native_retrieval, out)
    cv = r["cross_validation"]
    assert set(cv["runs"]) == {"xquad.ar.json", "xquad.en.json", "arcd-train.json", "mlqa-ar.json",
                               "mlqa-ar-q-en.json"}
    assert set(cv["chosen_on_all"]) == {"keyword_lambda", "title", "translated", "variants"}
    assert all(0 <= run["cross_validated"]["R@5"] <= 1 for run in cv["runs"].values())


def test_native_variants(out):
    from bench import native_variants

    r = _run(native_variants, out)
    study = r["study"]
    assert set(study) == set(native_variants.GRIDS)
    runs = study["minspan"]["runs"]
    assert set(runs) == {"xquad.ar.json", "xquad.en.json", "arcd-train.json", "mlqa-ar.json", "mlqa-ar-q-en.json"}
    assert all(0 <= run["cross_validated"]["R@5"] <= 1 for run in runs.values())


def test_query_adapter(out):
    from bench import query_adapter
    from rag.query_adapter import load

    r = query_adapter.main(["--smoke", "--out", str(out), "--write"])
    runs = r["studies"][0]["runs"]
    assert set(runs) == {"xquad.ar.json", "xquad.en.json", "arcd-train.json", "mlqa-ar.json", "mlqa-ar-q-en.json"}
    assert all(0 <= run["held_out"]["R@5"] <= 1 and 0 <= run["held_out_latin"]["R@5"] <= 1 for run in runs.values())
    # the written weights are what the product reads: (d + 1) x d, centred (the bias row is -mu M)
    adapter = load(r["written"]["path"])
    assert adapter.dim == 384 and r["written"]["norm"] > 0


def test_stem_alternatives():
    from bench.native_variants import stem_alternatives
    from index.arabic import normalize

    assert stem_alternatives(normalize("لمشروع")) == ["مشروع"]
    assert "ليونا" in stem_alternatives(normalize("لليونا"))
    assert "فاز" in stem_alternatives(normalize("فازت"))
    assert stem_alternatives(normalize("كتاب")) == []


def test_sentence_choice(out):
    from bench import sentence_choice

    r = _run(sentence_choice, out)
    matched, total = map(int, r["replay_matches_product"].split("/"))
    assert total > 0 and matched == total            # the replay chooses as the product does
    assert set(r["same_script"]["held_out"]) == {"xquad.ar.json", "arcd-train.json", "mlqa-ar.json"}
    assert set(r["cross_script"]["held_out"]) == {"xquad.en.json", "mlqa-ar-q-en.json"}


def test_answerability_fit(out):
    from bench import answerability_fit

    r = _run(answerability_fit, out)
    assert r["questions"] > 0 and r["sentences"] > 0
    for res in r["held_out"].values():
        assert set(res) == {"xquad.ar.json", "xquad.en.json"}
        for v in res.values():
            for name in ("cosine", "head"):
                assert 0.0 <= v[name]["top1"] <= 1.0 and 0.0 <= v[name]["auc"] <= 1.0


def test_sentence_retrieval(out):
    from bench import sentence_retrieval

    r = _run(sentence_retrieval, out)
    runs = {"xquad.ar.json", "xquad.en.json", "arcd-train.json", "mlqa-ar.json", "mlqa-ar-q-en.json"}
    assert r["today_matches_query_adapter"] == "5/5"       # λ = 1 ranks exactly as today's offline ranking
    assert r["cost"]["full_complete"] and r["cost"]["distinct_sentences"] > 0
    assert set(r["table"]) == runs and set(r["leave_one_set_out"]["runs"]) == runs
    assert "λ 0.5, full" in r["variants"] and "λ 0, pool 50" in r["variants"]
    assert all(0 <= v["R@5"] <= 1 for row in r["table"].values() for v in row.values())


def test_sentence_retrieval_best_sentence():
    """Each chunk's best sentence cosine, chunks without a sentence at −inf; λ 0 ranks by it alone."""
    import numpy as np

    from bench.sentence_retrieval import best_sentence

    q = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    sent = np.array([[0.6, 0.8], [1.0, 0.0], [0.0, 1.0]], np.float32)
    got = best_sentence(q, sent, np.array([0, 0, 2]), 3)
    assert got[:, 0].tolist() == [1.0, pytest.approx(0.8)] and got[:, 2].tolist() == [0.0, 1.0]
    assert np.isneginf(got[:, 1]).all()
