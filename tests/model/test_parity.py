"""Our vectors vs an independent computation: a raw transformers forward with
output_hidden_states=True on hand-written processor inputs (the original demo's formula)."""
import numpy as np
import pytest
import torch

from mme5.model.backbones import BACKBONES
from mme5.types import Item

# Hand-written strings (not produced by our formatter) for a text-only item, an image-only target and
# an image+question query, per backbone.
IMAGE_PREFIX = {
    "mllama": "<|image|><|begin_of_text|>",
    "qwen2_vl": "<|vision_start|><|image_pad|><|vision_end|>\n",
    "qwen2_5_vl": "<|vision_start|><|image_pad|><|vision_end|>\n",
    "qwen3_vl": "<|vision_start|><|image_pad|><|vision_end|>\n",
    "idefics3": "<image>\n",
    "llava_next": "<image>\n",
}


def reference_vector(embedder, text: str, image) -> np.ndarray:
    """Single item, no padding: full model forward, hidden_states[-1] at the last position, L2."""
    kwargs = {"text": [text], "return_tensors": "pt"}
    if image is not None:
        kwargs["images"] = [[image]] if embedder.backbone.nested_images else [image]
    inputs = dict(embedder.processor(**kwargs))
    inputs.pop("token_type_ids", None)
    with torch.no_grad():
        out = embedder.model(**inputs, output_hidden_states=True)
    vec = out.hidden_states[-1][0, -1].float()
    return (vec / vec.norm()).numpy()


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_encode_matches_raw_forward_in_mixed_padded_batch(name, tiny_embedder, rgb_images):
    embedder = tiny_embedder(name)
    items = [
        Item(text="A cat and a dog sitting on a very long sofa in the living room."),
        Item(image=rgb_images[0], instruction="Represent the given image."),
        Item(image=rgb_images[1], text="What is in the image", instruction="Represent the given image with the following question:"),
        Item(text="short"),
    ]
    texts = [
        "A cat and a dog sitting on a very long sofa in the living room.",
        IMAGE_PREFIX[name] + "Represent the given image.\n",
        IMAGE_PREFIX[name] + "Represent the given image with the following question: What is in the image\n",
        "short",
    ]
    images = [None, rgb_images[0], rgb_images[1], None]
    ours = embedder.encode(items, batch_size=4)
    assert ours.dtype == np.float32 and ours.shape == (4, embedder.dim)
    ref = np.stack([reference_vector(embedder, t, i) for t, i in zip(texts, images)])
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_different_images_give_different_vectors(name, tiny_embedder, rgb_images):
    embedder = tiny_embedder(name)
    vecs = embedder.encode([Item(image=img, instruction="Represent the given image.") for img in rgb_images])
    dists = [np.abs(vecs[i] - vecs[j]).max() for i in range(len(vecs)) for j in range(i + 1, len(vecs))]
    assert min(dists) > 1e-3, f"{name}: images are ignored (max abs diff {min(dists)})"


@pytest.mark.parametrize("side", ["left", "right"])
def test_padding_side_does_not_change_vectors(side, tiny_embedder, rgb_images):
    embedder = tiny_embedder("qwen2_vl")
    items = [Item(text="one"), Item(text="a much longer text with many more tokens in it"), Item(image=rgb_images[2], text="q")]
    alone = np.stack([embedder.encode([it])[0] for it in items])
    old = embedder.tokenizer.padding_side
    embedder.tokenizer.padding_side = side
    try:
        batched = embedder.encode(items, batch_size=3)
    finally:
        embedder.tokenizer.padding_side = old
    np.testing.assert_allclose(batched, alone, atol=1e-5)


def test_order_preserved_with_bucketing(tiny_embedder):
    embedder = tiny_embedder("mllama")
    texts = [("word " * n).strip() for n in (9, 1, 5, 3, 7, 2)]
    batched = embedder.encode(texts, batch_size=2)
    alone = np.stack([embedder.encode([t])[0] for t in texts])
    np.testing.assert_allclose(batched, alone, atol=1e-5)
