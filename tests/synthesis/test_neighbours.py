"""Image pool and neighbour selection: the positive comes from the top ranks, the hard negative
from a lower band, never the query image or an exact duplicate of it. Checked against a
brute-force numpy ranking, on generated images and on real emoji (skipped when absent)."""
from __future__ import annotations

import shutil
import tarfile

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from mme5.synthesis.config import NeighbourConfig, PlanConfig, PoolConfig
from mme5.synthesis.feed import resolve_images
from mme5.synthesis.neighbours import EmbedderEncoder, NeighbourIndex, PixelEncoder, embed_pool
from mme5.synthesis.plan import Planner
from mme5.synthesis.pool import build_pool
from mme5.types import InputError

RETRIEVAL_WITH_IMAGES = PlanConfig(task_weights={"retrieval": 1},
                                   modality_weights={"retrieval": {"IT2IT": 1, "T2I": 1, "I2I": 1}})


def check_selection(pool, vectors, positive_ranks, negative_ranks, samples=60):
    """Every planned sample's images obey the bands, by an independent brute-force ranking."""
    index = NeighbourIndex(vectors)
    planner = Planner(RETRIEVAL_WITH_IMAGES, seed=0, pool_size=len(pool),
                      positive_ranks=positive_ranks, negative_ranks=negative_ranks)
    plans = [planner.sample(i) for i in range(samples)]
    ranked = index.ranked([p.anchor for p in plans], negative_ranks[1])
    sims = vectors @ vectors.T
    for plan, neighbours in zip(plans, ranked):
        order = [int(j) for j in np.argsort(-sims[plan.anchor], kind="stable") if j != plan.anchor]
        # faiss and numpy agree on the similarity of every returned rank (ties may swap ids)
        np.testing.assert_allclose(sims[plan.anchor, neighbours], sims[plan.anchor, order[: len(neighbours)]], atol=1e-5)
        images = resolve_images(plan, neighbours)
        query = images.get("query_image", images["positive_image"])
        assert images["negative_image"] != query and images["positive_image"] != images["negative_image"]
        if "query_image" in images:
            assert images["positive_image"] != query
            pos_rank = neighbours.index(images["positive_image"]) + 1
            assert positive_ranks[0] <= pos_rank <= positive_ranks[1]
            assert sims[query, images["positive_image"]] >= sims[query, images["negative_image"]] - 1e-6
        neg_rank = neighbours.index(images["negative_image"]) + 1
        assert negative_ranks[0] <= neg_rank <= negative_ranks[1]
        hashes = {pool.images[i].sha1 for i in images.values()}
        assert len(hashes) == len(set(images.values()))  # no two roles share image content


def test_generated_pool_with_duplicate_list_and_tar(tmp_path):
    pool_dir = tmp_path / "src"
    pool = build_pool(PoolConfig(generate=40), tmp_path / "gen")
    shapes = [img.path for img in pool.images]
    pool_dir.mkdir()
    for p in shapes[:20]:
        shutil.copy(p, pool_dir / p.name)
    shutil.copy(shapes[0], pool_dir / "zz-exact-copy-of-0.png")  # same bytes as shape 0
    (pool_dir / "notes.txt.bak").write_text("not an image")
    listing = tmp_path / "more.txt"
    listing.write_text("# extra images\n" + "\n".join(str(p) for p in shapes[20:30]) + "\n")
    with tarfile.open(tmp_path / "shard.tar", "w") as tar:
        for p in shapes[30:]:
            tar.add(p, arcname=f"inner/{p.name}")
    config = PoolConfig(sources=(str(pool_dir), str(listing), str(tmp_path / "shard.tar")))
    pool = build_pool(config, tmp_path / "run")
    assert len(pool) == 40 and pool.duplicates == 1
    assert sorted(p.path.name for p in pool.images) == sorted(p.name for p in shapes)
    assert len(list((tmp_path / "run" / "pool" / "tar").glob("shard.tar-*/inner"))) == 1
    assert build_pool(config, tmp_path / "run").fingerprint() == pool.fingerprint()  # cached hashes, same pool
    vectors = embed_pool(pool, PixelEncoder(), tmp_path / "run" / "pool")
    assert vectors.shape == (40, 192)
    check_selection(pool, vectors, (1, 2), (5, 9))


def test_dotted_tar_shards_with_repeated_member_names(tmp_path):
    """webdataset-style shards (`laion.00000.tar`, `laion.00001.tar`, or `0/same.tar`, `1/same.tar`)
    that reuse member names (`0000.png`...) are each extracted to their own folder."""
    shapes = build_pool(PoolConfig(generate=10), tmp_path / "gen").images
    for k in (0, 1):
        (tmp_path / str(k)).mkdir()
        for shard in (tmp_path / f"laion.{k:05d}.tar", tmp_path / str(k) / "same.tar"):
            with tarfile.open(shard, "w") as tar:
                for j, img in enumerate(shapes[5 * k: 5 * k + 5]):
                    tar.add(img.path, arcname=f"{j:04d}.png")
    for sources in (str(tmp_path / "laion.*.tar"), str(tmp_path / "*" / "same.tar")):
        pool = build_pool(PoolConfig(sources=(sources,)), tmp_path / "run")
        assert pool.duplicates == 0 and sorted(i.sha1 for i in pool.images) == sorted(i.sha1 for i in shapes)


def test_resaved_copy_is_not_a_neighbour(tmp_path):
    """Same pixels, other bytes (a PNG text chunk): the hashes differ, the vectors do not. Such a
    copy must not become the positive (cos 1.0): neighbours at >= max_similarity are skipped."""
    src = tmp_path / "src"
    src.mkdir()
    for i, img in enumerate(build_pool(PoolConfig(generate=12), tmp_path / "gen").images):
        shutil.copy(img.path, src / f"{i:03d}.png")
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "re-saved copy")
    Image.open(src / "000.png").save(src / "copy.png", pnginfo=info)
    pool = build_pool(PoolConfig(sources=(str(src),)), tmp_path / "run")
    assert len(pool) == 13 and pool.duplicates == 0
    vectors = embed_pool(pool, PixelEncoder(), tmp_path / "run" / "pool")
    names = [img.path.name for img in pool.images]
    query, copy = names.index("000.png"), names.index("copy.png")
    assert NeighbourIndex(vectors, max_similarity=None).ranked([query], 3)[0][0] == copy  # the check off
    index = NeighbourIndex(vectors, max_similarity=NeighbourConfig().max_similarity)
    ranked = index.ranked(list(range(13)), 10)
    assert copy not in ranked[query] and query not in ranked[copy] and all(len(r) == 10 for r in ranked)
    assert max(float(vectors[a] @ vectors[b]) for a, row in enumerate(ranked) for b in row) < 0.995
    with pytest.raises(InputError, match="only 11 images below neighbours.max_similarity"):
        index.ranked([query], 12)


def test_tiny_embedder_on_emoji(emoji_dir, tiny_embedder, tmp_path):
    files = sorted((emoji_dir / "images").glob("*.png"))[:120]
    listing = tmp_path / "emoji.txt"
    listing.write_text("\n".join(str(f) for f in files) + "\n" + str(files[5]) + "\n")  # a duplicate line
    pool = build_pool(PoolConfig(sources=(str(listing),)), tmp_path)
    assert len(pool) == 120 and pool.duplicates == 1
    assert pool.relative(0) == files[0].name and pool.root == files[0].parent.resolve()  # the pool resolves symlinks
    encoder = EmbedderEncoder(NeighbourConfig(batch_size=32), embedder=tiny_embedder("mllama"))
    vectors = embed_pool(pool, encoder, tmp_path / "cache")
    assert vectors.shape == (120, tiny_embedder("mllama").dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    check_selection(pool, vectors, (1, 3), (10, 30))
    # the cache is used on the second call (same vectors, no model needed)
    again = embed_pool(pool, PixelEncoder(), tmp_path / "cache")
    assert again.shape[1] == 192  # another encoder -> another cache entry
    assert np.array_equal(embed_pool(pool, encoder, tmp_path / "cache"), vectors)


def test_unreadable_images_are_skipped_and_errors_named(tmp_path):
    pool = build_pool(PoolConfig(generate=6), tmp_path)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    pool = build_pool(PoolConfig(generate=6, sources=(str(broken),)), tmp_path)
    assert len(pool) == 7
    vectors = embed_pool(pool, PixelEncoder(), tmp_path / "cache", chunk=4)
    assert len(pool) == 6 and vectors.shape[0] == 6 and broken not in [i.path for i in pool.images]
    with pytest.raises(FileNotFoundError, match="matches no file"):
        build_pool(PoolConfig(sources=(str(tmp_path / "nothing-*.png"),)), tmp_path)
    missing = tmp_path / "list.txt"
    missing.write_text("gone.png\n")
    with pytest.raises(FileNotFoundError, match="list.txt:1"):
        build_pool(PoolConfig(sources=(str(missing),)), tmp_path)
    with pytest.raises(InputError, match="pool is empty"):
        build_pool(PoolConfig(), tmp_path)
    with pytest.raises(ValueError, match="only 6 images"):
        NeighbourIndex(vectors).ranked([0], 6)
