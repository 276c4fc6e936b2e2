"""The quantization module: round trips, packing, views and exact rescoring."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from mme5.quantize import (
    Int8Codec,
    View,
    encode,
    pack_bits,
    rescore,
    similarity_view,
    to_base64,
    truncate,
    unpack_signs,
)


def unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_truncate_keeps_the_prefix_direction_and_unit_norm():
    v = unit(5, 32)
    cut = truncate(v, 8)
    assert cut.shape == (5, 8)
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(cut * np.linalg.norm(v[:, :8], axis=1, keepdims=True), v[:, :8], rtol=1e-5)
    assert truncate(v, None) is not None and truncate(v, 64).shape == (5, 32)


def test_int8_round_trip_is_within_half_a_step_and_ranges_are_recorded():
    v = unit(200, 16, seed=1)
    codec = Int8Codec.fit(v)
    codes = codec.encode(v)
    assert codes.dtype == np.int8 and codes.min() == -128 and codes.max() == 127
    back = codec.decode(codes)
    assert np.all(np.abs(back - v) <= codec.step / 2 + 1e-6)
    again = Int8Codec.from_json(codec.to_json())
    np.testing.assert_array_equal(again.encode(v), codes)
    np.testing.assert_allclose(again.low, v.min(axis=0))


def test_int8_uint8_and_clipping_with_a_fixed_range():
    v = np.array([[-2.0, -0.5, 0.25, 0.5, 2.0]], np.float32)
    codec = Int8Codec.fixed(5, bound=1.0)
    # step 2/255: -0.5 -> 63.75 steps above -1 -> 64 - 128; 0.25 -> 159.375; 0.5 -> 191.25 -> 191 - 128; +-2 clip
    assert encode(v, "int8", codec).tolist() == [[-128, -64, 31, 63, 127]]
    assert encode(v, "uint8", codec).tolist() == [[0, 64, 159, 191, 255]]


def test_binary_packing_equals_packbits_of_the_sign():
    v = unit(7, 37, seed=2)  # not a multiple of 8: the last byte is padded with zeros
    expected = np.packbits(v > 0, axis=1)
    np.testing.assert_array_equal(encode(v, "ubinary"), expected)
    np.testing.assert_array_equal(encode(v, "binary"), (expected.astype(np.int16) - 128).astype(np.int8))
    np.testing.assert_array_equal(np.unpackbits(pack_bits(v), axis=1, count=37), (v > 0).astype(np.uint8))


def test_sign_view_inner_product_is_one_minus_twice_the_hamming_fraction():
    v = unit(6, 24, seed=3)
    signs = unpack_signs(pack_bits(v), 24)
    hamming = ((v[:, None, :] > 0) != (v[None, :, :] > 0)).sum(-1)
    np.testing.assert_allclose(signs @ signs.T, 1 - 2 * hamming / 24, atol=1e-6)
    np.testing.assert_allclose(similarity_view(v, View(8, "binary")), unpack_signs(pack_bits(v[:, :8]), 8))


def test_base64_is_the_rows_bytes():
    v = unit(1, 8)[0]
    assert np.frombuffer(base64.b64decode(to_base64(v)), "<f4").tolist() == v.tolist()
    packed = encode(unit(1, 16), "ubinary")[0]
    assert base64.b64decode(to_base64(packed)) == packed.tobytes()


def test_view_names_and_bad_values():
    assert View().name == "full-float" and View(64, "binary").name == "64-binary"
    with pytest.raises(ValueError, match="quantize"):
        View(8, "int4")


def test_rescoring_returns_the_float_ranking_when_the_shortlist_holds_the_true_top_k(tmp_path):
    corpus, queries, k = unit(500, 32, seed=4), unit(20, 32, seed=5), 10
    exact = corpus @ queries.T
    truth = np.argsort(-exact, axis=0)[:k].T
    rng = np.random.default_rng(6)
    # the shortlist: the true top-k hidden among 30 other rows, shuffled, with empty slots
    shortlist = np.stack(
        [
            rng.permutation(np.concatenate([t, rng.choice(np.setdiff1d(np.arange(500), t), 30, replace=False)]))
            for t in truth
        ]
    )
    shortlist = np.concatenate([shortlist, np.full((20, 3), -1)], axis=1)
    path = tmp_path / "vectors.npy"
    np.save(path, corpus)
    scores, ids = rescore(queries, shortlist, np.load(path, mmap_mode="r"), k)
    np.testing.assert_array_equal(ids, truth)
    np.testing.assert_allclose(scores, np.take_along_axis(exact.T, truth, 1), rtol=1e-5)
    # int8 stored vectors: the ranking of the decoded vectors
    codec = Int8Codec.fit(corpus)
    _, ids8 = rescore(queries, shortlist, codec.encode(corpus), k, codec)
    decoded = codec.decode(codec.encode(corpus)) @ queries.T
    cand = [row[row >= 0] for row in shortlist]
    expected = np.stack([c[np.argsort(-decoded[c, i], kind="stable")][:k] for i, c in enumerate(cand)])
    np.testing.assert_array_equal(ids8, expected)


def test_rescoring_pads_short_shortlists():
    corpus, queries = unit(10, 8), unit(1, 8, seed=1)
    scores, ids = rescore(queries, np.array([[3, -1, 5]]), corpus, 4)
    assert ids[0, 2:].tolist() == [-1, -1] and sorted(ids[0, :2].tolist()) == [3, 5]
    assert np.isneginf(scores[0, 2:]).all()


def test_views_parse_and_combine():
    from mme5.quantize import views

    assert View.parse("64-binary") == View(64, "binary") and View.parse("full-float") == View()
    assert [v.name for v in views([16, 32], ["none", "binary"])] == ["16-float", "16-binary", "32-float", "32-binary"]
    assert [v.name for v in views([], ["binary"])] == ["full-binary"] and views([], []) == ()
    assert [v.name for v in views([8], ["binary"], 4)] == ["8-binary", "8-binary+rescore4"]
    assert View.parse("32-binary+rescore4") == View(32, "binary", 4)
    with pytest.raises(ValueError, match="DIM-FORMAT"):
        View.parse("big-binary")
