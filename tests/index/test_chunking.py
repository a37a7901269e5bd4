from __future__ import annotations

from hypothesis import given, settings, strategies as st

from index.chunking import ChunkingPolicy, chunk_article, embedding_text
from tests.conftest import SEED_DIR

SEED = (SEED_DIR / "000_512641a6fdf04b61.txt").read_text(encoding="utf-8")


def test_chunks_slice_back_and_respect_the_limit(embedder):
    policy = ChunkingPolicy(target_tokens=120, max_tokens=200, overlap_tokens=40)
    chunks = chunk_article("عنوان", SEED, embedder.count_tokens, policy)
    assert len(chunks) > 3
    for c in chunks:
        assert SEED[c.start:c.end] == c.text
        real = embedder.count_tokens(embedding_text("عنوان", c.text))
        assert c.n_tokens == real <= 200
    # in order, covering the text from its first sentence to its last
    assert chunks[0].start == 0 and chunks[-1].end == len(SEED.rstrip())
    assert all(a.start < b.start for a, b in zip(chunks, chunks[1:]))


def test_default_policy_aims_near_300_tokens(embedder):
    chunks = chunk_article("", SEED * 3, embedder.count_tokens)
    assert max(c.n_tokens for c in chunks) <= 510
    assert sum(c.n_tokens for c in chunks[:-1]) / (len(chunks) - 1) > 150


def test_small_overlap_repeats_a_short_sentence(embedder):
    policy = ChunkingPolicy(target_tokens=100, max_tokens=200, overlap_tokens=80)
    chunks = chunk_article("", SEED, embedder.count_tokens, policy)
    assert any(b.start < a.end for a, b in zip(chunks, chunks[1:]))


def test_a_sentence_over_the_limit_is_cut_at_word_boundaries(embedder):
    text = " ".join(["كلمة"] * 3000)  # one 'sentence' of ~3000 words, no punctuation
    policy = ChunkingPolicy(target_tokens=300, max_tokens=510, overlap_tokens=0)
    chunks = chunk_article("title", text, embedder.count_tokens, policy)
    assert len(chunks) >= 6
    for c in chunks:
        assert c.n_tokens <= 510
        assert text[c.start:c.end] == c.text
        assert not c.text.startswith(" ") and not c.text.endswith(" ")
        assert c.start == 0 or text[c.start - 1] == " "


def test_a_single_enormous_word_is_cut_too(embedder):
    text = "x" * 20000
    chunks = chunk_article("", text, embedder.count_tokens, ChunkingPolicy(300, 510, 0))
    assert "".join(c.text for c in chunks) == text
    assert all(c.n_tokens <= 510 for c in chunks)


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("كتب السفير قال. ؟ ، \n 3.5 abc\u200f\u0651")), max_size=600))
def test_property_offsets_and_limits(embedder, text):
    policy = ChunkingPolicy(target_tokens=40, max_tokens=64, overlap_tokens=10)
    for c in chunk_article("t", text, embedder.count_tokens, policy):
        assert text[c.start:c.end] == c.text
        assert c.n_tokens <= 64
