"""Batches are planned by what they pad (`Preprocessor.plan`): on mixed streams the forwards compute
at most 1.15x the token positions they need, and no vector depends on its batch neighbours."""

import numpy as np
import pytest
from PIL import Image

from mme5 import Embedder
from mme5.model.planning import BATCH_COST, Cost, plan
from mme5.prompts import REPRESENT_IMAGE, REPRESENT_IMAGE_WITH_QUESTION
from mme5.types import Item

WORDS = "the a cat dog sits on red blue mat near window under tree with two people riding bikes".split()


def _text(tokenizer, n_tokens: int, rng) -> str:
    words: list[str] = []
    while len(tokenizer(" ".join(words), add_special_tokens=False).input_ids) < n_tokens:
        words.append(str(rng.choice(WORDS)))
    return " ".join(words)


def _image(rng, lo: int = 40, hi: int = 120) -> Image.Image:
    return Image.fromarray(rng.integers(0, 255, (int(rng.integers(lo, hi)), int(rng.integers(lo, hi)), 3), dtype=np.uint8))


def p1_stream(tokenizer, n: int = 96, seed: int = 0) -> list[Item]:
    """P1's mix (benchmarks/encode.py): text-only, image-only, image+text; texts of 8-240 tokens."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        text, img = _text(tokenizer, int(rng.integers(8, 240)), rng), _image(rng)
        items.append([Item(text=text), Item(image=img, instruction=REPRESENT_IMAGE),
                      Item(image=img, text=text, instruction=REPRESENT_IMAGE_WITH_QUESTION)][i % 3])
    return items


def qwen_stream(tokenizer, n: int = 60, seed: int = 1) -> list[Item]:
    """Images of several sizes, videos of 2-8 frames, texts: the Qwen2-VL image/video/text mix."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        text = _text(tokenizer, int(rng.integers(4, 120)), rng)
        kind = i % 4
        if kind == 0:
            items.append(Item(text=text))
        elif kind == 1:
            items.append(Item(image=_image(rng, 20, 160), instruction=REPRESENT_IMAGE))
        elif kind == 2:
            items.append(Item(image=_image(rng, 20, 160), text=text))
        else:
            size = int(rng.integers(28, 90))
            frames = [Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
                      for _ in range(int(rng.integers(2, 9)))]
            items.append(Item(video=frames, text=text if i % 8 == 3 else None, instruction="Represent the video."))
    return items


@pytest.fixture(scope="module")
def long_embedders(tiny_dirs):
    return {name: Embedder.from_pretrained(tiny_dirs(name), device="cpu", max_length=512) for name in ("mllama", "qwen2_vl")}


@pytest.mark.parametrize("name,stream", [("mllama", p1_stream), ("qwen2_vl", qwen_stream)])
def test_padding_ratio_on_mixed_streams(name, stream, long_embedders):
    embedder = long_embedders[name]
    items = stream(embedder.tokenizer)
    before = (embedder.padding.padded, embedder.padding.real)
    embedder.encode(items, batch_size=16)
    padded, real = embedder.padding.padded - before[0], embedder.padding.real - before[1]
    assert real > 0 and padded / real <= 1.15, f"{name}: padded/real = {padded}/{real} = {padded / real:.2f}"


@pytest.mark.parametrize("name,stream", [("mllama", p1_stream), ("qwen2_vl", qwen_stream)])
def test_vectors_do_not_depend_on_batching(name, stream, long_embedders):
    embedder = long_embedders[name]
    items = stream(embedder.tokenizer, n=24, seed=3)
    together = embedder.encode(items, batch_size=8)
    alone = np.stack([embedder.encode([it], 1)[0] for it in items])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_costs_count_the_sequences_the_processor_builds(long_embedders):
    """Each item's planned length is the length of its row in the processor's output (Qwen2-VL:
    text, special and visual tokens), for texts, images of several sizes and videos."""
    embedder = long_embedders["qwen2_vl"]
    items = qwen_stream(embedder.tokenizer, n=16, seed=5)
    pre = embedder.preprocessor
    costs = pre.costs(items, pre.format(items))
    for item, cost in zip(items, costs):
        assert cost.length == int(pre.prepare([item]).token_counts()[0]), item


def _brute_force(lengths: list[int], batch_size: int) -> float:
    """The cheapest cut of sorted `lengths` (padded positions + BATCH_COST per batch), by trying every
    set of cut points: the independent check of the planner's dynamic programme."""
    from itertools import combinations

    n, best = len(lengths), float("inf")
    for k in range(n):
        for cuts in combinations(range(1, n), k):
            spans = list(zip((0, *cuts), (*cuts, n)))
            if all(j - i <= batch_size for i, j in spans):
                best = min(best, sum((j - i) * max(lengths[i:j]) + BATCH_COST for i, j in spans))
    return best


def test_cut_rules():
    rng = np.random.default_rng(0)
    for trial in range(30):  # the plan's cost is the optimum over every cut
        lengths = sorted(int(x) for x in rng.integers(1, 300, size=int(rng.integers(1, 11))))
        costs = [Cost(0, (), n) for n in rng.permutation(lengths).tolist()]
        batches = plan(costs, batch_size=4)
        assert sorted(i for b in batches for i in b) == list(range(len(costs)))
        assert all(len(b) <= 4 for b in batches)
        total = sum(len(b) * max(costs[i].length for i in b) + BATCH_COST for b in batches)
        assert total == _brute_force(lengths, 4), (trial, lengths, batches)
    long = [Cost(0, (), n) for n in (10, 10, 10, 10, 500, 520)]
    assert all(len(b) * max(long[i].length for i in b) <= 600 for b in plan(long, 8, max_tokens=600) if len(b) > 1)
    split = plan([Cost(1, (2,), 5), Cost(0, (0,), 5), Cost(1, (1,), 5)], batch_size=8)
    assert split == [[1], [2], [0]]  # groups and keys never share a batch, in (group, key) order


def test_image_files_are_planned_from_their_header(tiny_embedder, tmp_path, monkeypatch):
    embedder = tiny_embedder("qwen2_vl")
    rng = np.random.default_rng(0)
    paths = []
    for k, (w, h) in enumerate([(56, 56), (28, 28), (56, 28)] * 2):
        paths.append(tmp_path / f"{k}.png")
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(paths[-1])
    items = [Item(image=str(p)) for p in paths]
    batches = embedder.preprocessor.plan(items, batch_size=2)
    sizes = [{Image.open(paths[i]).size for i in b} for b in batches]
    assert all(len(s) == 1 for s in sizes), f"mixed sizes in a batch: {sizes}"


def test_max_tokens_is_the_budget_of_every_plan_and_changes_no_vector(long_embedders):
    """`--max-batch-tokens` (Embedder.max_tokens): each batch holds at most that many padded positions
    (an item longer than it runs alone), kept by `with_profile`, vectors unchanged."""
    embedder = long_embedders["qwen2_vl"]
    items = qwen_stream(embedder.tokenizer, n=24)
    pre = embedder.preprocessor
    costs = pre.costs(items, pre.format(items))
    free = embedder.encode(items, batch_size=16)
    unbounded = pre.plan(items, 16)
    embedder.max_tokens = 256
    try:
        planned = pre.plan(items, 16)
        assert planned == pre.plan(items, 16, max_tokens=256) != unbounded
        assert all(len(b) == 1 or len(b) * max(costs[i].length for i in b) <= 256 for b in planned)
        assert embedder.with_profile("vlm2vec-v2").max_tokens == 256
        assert np.abs(embedder.encode(items, batch_size=16) - free).max() < 1e-5
    finally:
        embedder.max_tokens = None
