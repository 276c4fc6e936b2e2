"""A really trained tiny model (3 LoRA steps of `mme5 train` on the toy set) exported to every target:
each tool that runs here gives back the adapter-on-base vectors."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from mme5 import prompts
from mme5.types import Item


@pytest.mark.slow
def test_trained_lora_every_target(tiny_dirs, tmp_path, images):
    from mme5 import Embedder
    from mme5.config import load_config
    from mme5.integrations.export import export
    from mme5.integrations.mteb import load_mteb_model
    from mme5.integrations.onnx import OnnxTextEncoder
    from mme5.integrations.sentence_transformers import load_sentence_transformer
    from mme5.training.config import TrainConfig
    from mme5.training.run import train

    base = tiny_dirs("qwen2_vl")
    run = tmp_path / "run"
    train(load_config(TrainConfig, None, [
        f"output_dir={run}", f"model.name_or_path={base}", "model.lora.dropout=0.0",
        "data.sources=[{path: 'toy:shapes'}]", "per_device_batch_size=4", "max_steps=3", "save_steps=3",
        "logging_steps=1", "learning_rate=1e-2"]))
    adapter = run / "lora"
    texts = [Item(text=t, instruction=prompts.FIND_IMAGE_FOR_CAPTION) for t in ("a red circle", "un carré bleu")]
    pics = [Item(image=img, instruction=prompts.REPRESENT_IMAGE) for img in images[:2]]
    want = Embedder.from_pretrained(base, adapter=adapter, device="cpu").encode(texts + pics)
    untrained = Embedder.from_pretrained(base, device="cpu").encode(texts + pics)
    assert np.abs(want - untrained).max() > 1e-4, "training must have moved the vectors"

    hf = export(base, tmp_path / "hf", "hf", adapter=adapter).out_dir
    np.testing.assert_allclose(Embedder.from_pretrained(hf, device="cpu").encode(texts + pics), want, atol=1e-5)

    st = load_sentence_transformer(export(base, tmp_path / "st", "sentence-transformers", adapter=adapter).out_dir)
    got = np.concatenate([st.encode([t.text for t in texts], prompt_name="t2i_query"),
                          st.encode([p.image for p in pics], prompt_name="image_target")])
    np.testing.assert_allclose(got, want, atol=1e-5)

    encoder = load_mteb_model(hf)
    t2i = SimpleNamespace(category="t2i", type="Any2AnyRetrieval", prompt=None)
    got = np.concatenate([
        encoder.encode([{"text": [t.text for t in texts]}], task_metadata=t2i, hf_split="test", hf_subset="default",
                       prompt_type="query"),
        encoder.encode([{"image": [p.image for p in pics]}], task_metadata=t2i, hf_split="test", hf_subset="default",
                       prompt_type="document")])
    np.testing.assert_allclose(got, want, atol=1e-5)

    onnx = OnnxTextEncoder(export(base, tmp_path / "onnx", "onnx", adapter=adapter).out_dir)
    np.testing.assert_allclose(onnx.encode(texts), want[:2], atol=1e-4)
