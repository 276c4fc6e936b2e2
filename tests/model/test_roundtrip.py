"""Save/reload and LoRA adapter load+merge give the same vectors; encode errors are specific."""

import numpy as np
import pytest

from mme5 import Embedder, Item


def _items(rgb_images):
    return [Item(text="hello world"), Item(image=rgb_images[0], instruction="Represent the given image."),
            Item(image=rgb_images[1], text="what is this", instruction="Q:")]


@pytest.mark.parametrize("name", ["mllama", "qwen2_vl"])
def test_save_reload_identical(name, tiny_embedder, tmp_path, rgb_images):
    embedder = tiny_embedder(name)
    embedder.model.save_pretrained(tmp_path)
    embedder.processor.save_pretrained(tmp_path)
    reloaded = Embedder.from_pretrained(tmp_path, device="cpu")
    assert reloaded.backbone.name == name
    np.testing.assert_array_equal(reloaded.encode(_items(rgb_images)), embedder.encode(_items(rgb_images)))


def test_lora_adapter_merge_matches_unmerged_peft(tiny_dirs, tmp_path, rgb_images):
    from peft import LoraConfig, get_peft_model

    base_dir = tiny_dirs("mllama")
    base = Embedder.from_pretrained(base_dir, device="cpu")
    config = LoraConfig(r=4, lora_alpha=16, target_modules=list(base.backbone.lora_targets),
                        init_lora_weights=False, use_dora=True)
    peft_model = get_peft_model(base.model, config)
    unmerged = Embedder(peft_model, base.processor, base.backbone).encode(_items(rgb_images))
    peft_model.save_pretrained(tmp_path / "adapter")
    merged = Embedder.from_pretrained(base_dir, adapter=tmp_path / "adapter", device="cpu")
    vecs = merged.encode(_items(rgb_images))
    np.testing.assert_allclose(vecs, unmerged, atol=1e-5)
    plain = Embedder.from_pretrained(base_dir, device="cpu").encode(_items(rgb_images))
    assert np.abs(vecs - plain).max() > 1e-3  # the adapter really changed the model
    assert merged.fingerprint != Embedder.from_pretrained(base_dir, device="cpu").fingerprint


def test_bad_items_are_named(tiny_embedder, tmp_path):
    from mme5.types import InputError

    embedder = tiny_embedder("mllama")
    with pytest.raises(InputError, match="empty"):
        embedder.encode([])
    with pytest.raises(InputError, match=r"item 1: image file not found: .*nope\.png"):
        embedder.encode([Item(text="ok"), Item(image=str(tmp_path / "nope.png"))])
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError, match=r"item 0: cannot read image .*corrupt\.png"):
        embedder.encode([Item(image=str(corrupt))])


def test_truncation_is_counted(tiny_dirs, caplog):
    embedder = Embedder.from_pretrained(tiny_dirs("mllama"), device="cpu", max_length=8)
    long_text = "the quick brown fox jumps over the lazy dog " * 10
    with caplog.at_level("WARNING"):
        vecs = embedder.encode([long_text, "short"])
    assert embedder.truncated_total == 1
    assert "1 of 2 texts" in caplog.text
    cut = embedder.prepare([Item(text=long_text)]).parts[0][1]["input_ids"]
    assert cut.shape[1] == 8  # BOS included, as the original collator cuts
    assert vecs.shape == (2, embedder.dim)


@pytest.mark.parametrize("max_length", [5, 16, 40])
def test_mllama_truncation_matches_the_original_collator(tiny_dirs, rgb_images, max_length):
    """mmE5's collator: processor(..., truncation=True, max_length=L) -> L ids at most, BOS included."""
    embedder = Embedder.from_pretrained(tiny_dirs("mllama"), device="cpu", max_length=max_length)
    items = [Item(text="the quick brown fox jumps over the lazy dog " * 6),
             Item(image=rgb_images[0], text="ネコの絵とイヌの絵を比べてください " * 4, instruction="Q:")]
    for item in items:
        from mme5.model.formatting import format_text

        images = [[embedder.preprocessor._image(item, "test")]] if item.has_image else None
        expected = embedder.processor(text=[format_text(item, embedder.backbone)], images=images, return_tensors="pt",
                                      truncation=True, max_length=max_length)["input_ids"]
        ours = embedder.prepare([item]).parts[0][1]["input_ids"]
        assert ours.tolist() == expected.tolist()
        assert ours.shape[1] == max_length


def test_text_cut_before_the_processor_keeps_whole_characters(tiny_dirs):
    """Backbones whose image placeholders expand are cut as text: within max_length, no U+FFFD."""
    embedder = Embedder.from_pretrained(tiny_dirs("qwen2_vl"), device="cpu", max_length=7)
    fitted = embedder.preprocessor.format([Item(text="ネコの絵とイヌの絵を比べてください")])[0]
    text, cut = fitted.text, fitted.truncated
    assert cut and "\ufffd" not in text and text and "ネコの絵とイヌの絵を比べてください".startswith(text)
    ids = embedder.prepare([Item(text="ネコの絵とイヌの絵を比べてください " * 3)]).parts[0][1]["input_ids"]
    assert ids.shape[1] <= 7


@pytest.mark.parametrize("empty", ["", "   ", Item(text=""), {"text": " "}])
def test_empty_items_are_refused(tiny_embedder, empty):
    from mme5.types import InputError

    with pytest.raises(InputError, match="item 1 is empty"):
        tiny_embedder("qwen2_vl").encode(["fine", empty])


def test_tiny_mllama_gates_are_open(tiny_embedder):
    gates = [p for n, p in tiny_embedder("mllama").model.named_parameters() if "cross_attn_attn_gate" in n]
    assert gates and all(float(g.detach().abs().min()) > 0 for g in gates)
