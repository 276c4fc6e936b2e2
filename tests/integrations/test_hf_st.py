"""`--to hf` and `--to sentence-transformers`: the exported folder gives the adapter-on-base vectors
through mme5 (transformers) and through sentence-transformers, for texts, images and image+text."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mme5.types import InputError, Item

BACKBONES = ["qwen2_vl", "mllama"]
TEXTS = ["a black cat on a roof", "un chien qui court", "犬と猫"]


def _items(images, instruction=None):
    return ([Item(text=t, instruction=instruction) for t in TEXTS]
            + [Item(image=img, instruction=instruction) for img in images]
            + [Item(text="a dog", image=images[0], instruction=instruction)])


@pytest.mark.parametrize("backbone", BACKBONES)
def test_hf_export_matches_adapter_on_base(backbone, exported, reference, images):
    from mme5 import Embedder

    result = exported(backbone, "hf")
    merged = Embedder.from_pretrained(result.out_dir, device="cpu")
    want = reference(backbone).encode(_items(images, "Find:"))
    got = merged.encode(_items(images, "Find:"))
    np.testing.assert_allclose(got, want, atol=1e-5)
    base = Embedder.from_pretrained(result.profile.source["model"], device="cpu").encode(_items(images, "Find:"))
    assert np.abs(base - want).max() > 1e-2, "the adapter must change the vectors, or this test proves nothing"


@pytest.mark.parametrize("backbone", BACKBONES)
def test_hf_export_files(backbone, exported, reference):
    out = exported(backbone, "hf").out_dir
    for name in ("config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja", "README.md"):
        assert (out / name).is_file(), name
    processor = json.loads((out / "processor_config.json").read_text())
    assert not processor["processor_class"].endswith("ImageOnly")  # the stock class, for AutoProcessor/vLLM
    profile = json.loads((out / "mme5_embedding.json").read_text())
    ref = reference(backbone)
    assert (profile["pooling"], profile["normalize"], profile["dim"]) == ("last_token", True, ref.dim)
    assert (profile["max_length"], profile["image_text"]) == (ref.max_length, ref.backbone.image_text)
    from mme5 import prompts

    assert profile["prompts"]["t2i_query"] == prompts.FIND_IMAGE_FOR_CAPTION


@pytest.mark.parametrize("backbone", BACKBONES)
def test_sentence_transformers_encode_matches_mme5(backbone, exported, reference, images):
    from mme5.integrations.sentence_transformers import load_sentence_transformer

    result = exported(backbone, "sentence-transformers")
    st = load_sentence_transformer(result.out_dir, device="cpu")
    ref = reference(backbone)
    prompts = result.profile.prompts
    got = st.encode(TEXTS, prompt_name="t2i_query", batch_size=2)
    np.testing.assert_allclose(got, ref.encode([Item(text=t, instruction=prompts["t2i_query"]) for t in TEXTS]), atol=1e-5)
    got = st.encode(images, prompt_name="image_target")
    np.testing.assert_allclose(got, ref.encode([Item(image=i, instruction=prompts["image_target"]) for i in images]),
                               atol=1e-5)
    mixed = [{"text": "a dog", "image": images[0]}, "plain text", images[1], {"text": "only text"}]
    want = ref.encode([Item(text="a dog", image=images[0]), Item(text="plain text"), Item(image=images[1]),
                       Item(text="only text")])
    if backbone == "mllama":  # native: one batch mixing text-only and image rows is one Mllama forward
        np.testing.assert_allclose(st.encode(mixed, batch_size=1), want, atol=1e-5)
        gap = np.abs(st.encode(mixed, batch_size=4) - want).max()
        assert 1e-4 < gap < 0.1, f"the mixed-batch gap docs/export.md states changed: {gap}"
    else:  # mme5's input module splits the batch as mme5 does
        np.testing.assert_allclose(st.encode(mixed, batch_size=4), want, atol=1e-5)


def test_sentence_transformers_files_and_errors(exported):
    from mme5.integrations.sentence_transformers import load_sentence_transformer

    native = exported("mllama", "sentence-transformers").out_dir
    modules = json.loads((native / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[-1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    assert json.loads((native / "1_Pooling" / "config.json").read_text())["pooling_mode"] == "lasttoken"
    assert json.loads((native / "tokenizer_config.json").read_text())["padding_side"] == "right"
    out = exported("qwen2_vl", "sentence-transformers").out_dir
    assert [m["type"].rsplit(".", 1)[-1] for m in json.loads((out / "modules.json").read_text())] == [
        "MME5Input", "Pooling", "Normalize"]
    for folder in (native, out):
        assert not list(folder.rglob("*.py")), "the export must hold no code"
    st = load_sentence_transformer(out, device="cpu")
    with pytest.raises(InputError, match="unknown key"):
        st.encode([{"txt": "typo"}])


def test_vlm2vec_v2_profile_export(adapted, tmp_path, images):
    """A non-default formatting profile travels with the export: sentence-transformers reproduces it;
    vLLM and ONNX, which cannot, refuse it before merging."""
    from mme5 import Embedder
    from mme5.integrations.export import export
    from mme5.integrations.sentence_transformers import load_sentence_transformer
    from mme5.model.profiles import set_profile

    base, adapter = adapted("qwen2_vl")
    result = export(base, tmp_path / "st", "sentence-transformers", adapter=adapter, profile="vlm2vec-v2")
    assert result.profile.formatting_profile == "vlm2vec-v2"
    ref = set_profile(Embedder.from_pretrained(base, adapter=adapter, device="cpu"), "vlm2vec-v2")
    st = load_sentence_transformer(result.out_dir, device="cpu")
    inputs = ["a cat", images[0], {"text": "a dog", "image": images[1]}]
    want = ref.encode([Item(text="a cat"), Item(image=images[0]), Item(text="a dog", image=images[1])])
    np.testing.assert_allclose(st.encode(inputs), want, atol=1e-5)
    default = Embedder.from_pretrained(base, adapter=adapter, device="cpu").encode([Item(image=images[0])])
    assert np.abs(default - want[1:2]).max() > 1e-3  # the profile really changes the vectors
    for target in ("vllm", "onnx"):
        with pytest.raises(InputError, match="mme5 formatting profile only"):
            export(base, tmp_path / target, target, profile="vlm2vec-v2")
