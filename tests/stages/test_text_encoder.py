"""The text encoder (int8 all-MiniLM-L6-v2) and label-space search, with the real model."""

from __future__ import annotations

import numpy as np
import pytest

from heaters.stages import text_encoder as te


def test_encode_shapes_and_normalisation() -> None:
    texts = ["motorbike", "a cat asleep on a sofa", "", "x " * 600]  # empty and over-long too
    v = te.encode(texts)
    assert v.shape == (4, te.TEXT_DIM) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert te.encode([]).shape == (0, te.TEXT_DIM)
    with pytest.raises(TypeError):
        te.encode("not a list")  # type: ignore[arg-type]


def test_a_text_always_gets_the_same_vector() -> None:
    texts = ["a red sports car", "dog", "espresso in a white cup on a wooden table", "ship"]
    together = te.encode(texts)
    alone = np.concatenate([te.encode([t]) for t in reversed(texts)])[::-1]
    np.testing.assert_array_equal(together, alone)


def test_meaning_not_spelling() -> None:
    moto, moped, teapot, scooter = te.encode(["motorbike", "moped", "teapot", "motor scooter"])
    assert moto @ moped > moto @ teapot
    assert moto @ scooter > moto @ teapot


def test_label_similarities_are_semantic() -> None:
    sims = te.label_similarities("motorbike")
    assert "moped" in sims and "teapot" in sims
    assert len(sims) >= 990  # 1000 classes, a couple of names used twice
    assert sims["moped"] > sims["teapot"]
    top10 = sorted(sims, key=sims.__getitem__, reverse=True)[:10]
    assert "motor scooter" in top10
    kitten = te.label_similarities("a kitten")
    assert max(kitten, key=kitten.__getitem__) in {
        "tabby",
        "tiger cat",
        "Egyptian cat",
        "Persian cat",
    }
    with pytest.raises(ValueError):
        te.label_similarities("   ")


def test_score_tags_ranks_a_moped_clip_above_a_teapot_clip() -> None:
    sims = te.label_similarities("motorbike")
    moped_clip = (("moped", 0.72), ("motor scooter", 0.12), ("disk brake", 0.03))
    teapot_clip = (("teapot", 0.8), ("coffeepot", 0.1))
    unsure_clip = (("teapot", 0.5), ("moped", 0.05))
    assert te.score_tags(moped_clip, sims) > te.score_tags(unsure_clip, sims)
    assert te.score_tags(moped_clip, sims) > te.score_tags(teapot_clip, sims)
    assert te.score_tags((), sims) == 0.0
    assert te.score_tags((("not a label", 1.0),), sims) == 0.0


def test_precomputed_label_vectors_match_the_shipped_model() -> None:
    """The shipped label vectors are the model's own: each fresh encoding points the same way
    (int8 kernels differ between CPUs: an EPYC gives cosine ~0.98-0.99 against the vectors
    exported elsewhere, so exact equality would test the CPU) and finds its own label first."""
    labels, vectors = te.label_vectors()
    assert vectors.shape == (len(labels), te.TEXT_DIM) == (1000, 384)
    sample = list(range(0, 1000, 50))
    fresh = te.encode([labels[i] for i in sample])
    cosine = np.sum(vectors[sample] * fresh, axis=1) / (
        np.linalg.norm(vectors[sample], axis=1) * np.linalg.norm(fresh, axis=1)
    )
    assert cosine.min() >= 0.97, cosine
    nearest = (fresh @ vectors.T).argmax(axis=1)
    assert [labels[n] for n in nearest] == [labels[i] for i in sample]


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("hello world", [101, 7592, 2088, 102]),
        ("motorbike", [101, 5013, 5638, 3489, 102]),
        # Lower-cased, accents stripped, punctuation split off.
        ("Naïve café, TEAPOT!", [101, 15743, 7668, 1010, 5572, 11008, 999, 102]),
        ("", [101, 102]),
    ],
)
def test_tokenizer_gives_bert_uncased_ids(text: str, ids: list[int]) -> None:
    assert te._tokenizer(None).encode(text) == ids


def test_tokenizer_truncates_and_marks_unknowns() -> None:
    tok = te._tokenizer(None)
    ids = tok.encode("word " * 1000)
    assert len(ids) == te.MAX_TOKENS and ids[0] == 101 and ids[-1] == 102
    assert tok.wordpieces("x" * 101) == ["[UNK]"]
    assert tok.words("東京 rocks") == ["東", "京", "rocks"]
    input_ids, mask, types = tok.encode_batch(["a", "a b c"])
    assert input_ids.shape == mask.shape == types.shape == (2, 5)
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]] and not types.any()


def test_query_labels_names_only_what_the_query_means() -> None:
    _m, moto = te.query_labels("motorbike")
    assert set(moto) == {"moped", "motor scooter"}  # by name (WordNet), plus its near-synonym
    _m, dogs = te.query_labels("dogs")
    assert len(dogs) == 118 and "hotdog" not in dogs and "dogsled" not in dogs
    _m, antelope = te.query_labels("antelope")
    assert set(antelope) == {"impala", "gazelle", "hartebeest"}  # not "ant"
    _m, kitten = te.query_labels("a kitten")  # no lemma in the tree: by meaning, relative cut-off
    assert kitten and set(kitten) <= {"tabby", "tiger cat", "Egyptian cat", "Persian cat",
                                      "Siamese cat", "Madagascar cat"}  # fmt: skip
    assert te.query_labels("happy")[1] == {}  # nothing close enough: no match, not a guess
    with pytest.raises(ValueError):
        te.query_labels("  ")
