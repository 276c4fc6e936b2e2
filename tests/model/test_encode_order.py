"""`Embedder.encode` batches images of equal processed size together (less padding), and the order
changes no vector: a mixed-size batch gives each item's vector encoded alone, row i = item i."""

import numpy as np
import pytest
from PIL import Image

from mme5.model.ordering import IMAGE, TEXT, media_key, processed_size
from mme5.types import Item

SIZES = [(56, 56), (28, 28), (56, 28)]  # (width, height): 16, 4 and 8 patches on the tiny Qwen2-VL


def _images(seed: int = 0) -> list[Image.Image]:
    """Two images of each size, interleaved (A B C A B C), so input order mixes the sizes."""
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for _ in range(2) for w, h in SIZES]


def _spy(monkeypatch, embedder) -> list[list[Item]]:
    """Record the items of every batch `encode` hands to `prepare`."""
    batches: list[list[Item]] = []
    real = embedder.prepare

    def prepare(items, where=None, **kwargs):
        batches.append(list(items))
        return real(items, where, **kwargs)

    monkeypatch.setattr(embedder, "prepare", prepare)
    return batches


def _size(image) -> tuple[int, int]:
    if isinstance(image, Image.Image):
        return image.size
    with Image.open(image) as img:
        return img.size


@pytest.mark.parametrize("name", ["qwen2_vl", "mllama"])
def test_mixed_size_images_batch_by_size_and_match_alone(name, tiny_embedder, monkeypatch):
    embedder = tiny_embedder(name)
    images = _images()
    items = [Item(image=im, instruction="Represent the given image.") for im in images]
    items.insert(2, Item(text="a long caption about a cat sitting on a red mat near the window"))
    items.insert(5, Item(text="short"))  # 2 texts + 3 sizes x 2: batches of 2 can each hold one kind, one size
    alone = np.stack([embedder.encode([it], 1)[0] for it in items])
    batches = _spy(monkeypatch, embedder)
    together = embedder.encode(items, batch_size=2)
    np.testing.assert_allclose(together, alone, atol=1e-5)
    sizes = [[_size(it.image) if it.has_image else None for it in batch] for batch in batches]
    assert sorted(s for batch in sizes for s in batch if s) == sorted(_size(it.image) for it in items if it.has_image)
    image_batches = [b for b in sizes if any(b)]
    assert all(None not in b for b in image_batches), f"a text row shares a batch with images: {sizes}"
    for size in SIZES:  # both images of each size share one batch (input order had them 3 apart)
        assert any(b.count(size) == 2 for b in image_batches), f"{size} split across batches: {sizes}"


def test_image_files_are_ordered_from_their_header(tiny_embedder, monkeypatch, tmp_path):
    embedder = tiny_embedder("qwen2_vl")
    paths = []
    for k, im in enumerate(_images(seed=1)):
        paths.append(tmp_path / f"{k}.png")
        im.save(paths[-1])
    items = [Item(image=str(p)) for p in paths]
    batches = _spy(monkeypatch, embedder)
    together = embedder.encode(items, batch_size=2)
    sizes = [[_size(it.image) for it in batch] for batch in batches]
    assert all(len(set(b)) == 1 for b in sizes), f"mixed sizes in a batch: {sizes}"
    np.testing.assert_allclose(together, np.stack([embedder.encode([it], 1)[0] for it in items]), atol=1e-5)


def test_processed_size_is_the_patch_count_the_processor_produces(tiny_embedder):
    """The key's arithmetic vs the processor's real output (image_grid_thw) for each size."""
    embedder = tiny_embedder("qwen2_vl")
    counts = []
    for im in _images()[: len(SIZES)]:
        text = embedder.backbone.image_text + "x"
        grid = embedder.processor(text=[text], images=[im], return_tensors="pt")["image_grid_thw"][0]
        counts.append(int(grid.prod()))
        assert processed_size(embedder.processor, *im.size) == counts[-1]
    assert len(set(counts)) == len(SIZES), f"test sizes should differ in patch count: {counts}"


def test_media_key_kinds_and_unreadable_files(tmp_path):
    assert media_key(Item(text="x"), None, 1)[0] == TEXT
    assert media_key(Item(image=Image.new("RGB", (10, 20))), None, 30) == (IMAGE, 30 * 30, 30 * 30)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert media_key(Item(image=str(bad)), None, 1) == (IMAGE, 0, 0)  # the loader reports it later
