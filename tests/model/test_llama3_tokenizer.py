"""A tiny Mllama with Meta's real Llama 3 tokenizer (`mme5 init-tiny --tokenizer llama3`): its ids equal
tiktoken's on llama-models' own tokenizer, `mme5 embed` equals the original mmE5 computation written
out here, and `mme5 train` runs on it. Skipped without `llama-models` (the `dev` extra)."""

from __future__ import annotations

import json
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
import torch

from mme5.cli.main import main
from mme5.prompts import FIND_IMAGE_FOR_CAPTION, REPRESENT_IMAGE, REPRESENT_IMAGE_WITH_QUESTION

needs_llama_models = pytest.mark.skipif(
    find_spec("llama_models") is None or find_spec("tiktoken") is None,
    reason="needs llama-models and tiktoken (pip install 'mme5[dev]')",
)

TEXTS = [
    "A cat and a dog sitting on a sofa.",
    "Un chat et un chien assis sur un canapé.",
    "Eine Katze und ein Hund sitzen auf einem Sofa.",
    "ソファに座っている猫と犬。",
    "猫和狗坐在沙发上。",
    "Кошка и собака сидят на диване.",
    "قطة وكلب يجلسان على أريكة.",
    "सोफे पर बैठी एक बिल्ली और एक कुत्ता।",
    "  tabs\tand\n\nnewlines, digits 1234567, emoji 🐱🐶👍🏽 🇯🇵",
]
# the hub's Llama-3.2-11B-Vision preprocessor_config.json, written out independently of the package
HUB_IMAGE_PROCESSOR = {
    "size": {"height": 560, "width": 560},
    "max_image_tiles": 4,
    "resample": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """2 shared cores: more torch threads only spin."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def llama3_dir(tmp_path_factory) -> Path:
    """Built once for the module through the CLI (the converted tokenizer is cached per process)."""
    out = tmp_path_factory.mktemp("tiny") / "mllama-llama3"
    assert main(["init-tiny", "--backbone", "mllama", "--tokenizer", "llama3", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def meta_tokenizer():
    """llama-models' own tokenizer: tiktoken on the same tokenizer.model, Meta's code path."""
    from llama_models.llama3.tokenizer import Tokenizer

    return Tokenizer.get_instance()


@pytest.fixture(scope="module")
def processor(llama3_dir):
    from transformers import MllamaProcessor

    return MllamaProcessor.from_pretrained(str(llama3_dir))


@needs_llama_models
def test_ids_equal_tiktoken_on_meta_tokenizer(processor, meta_tokenizer):
    tok = processor.tokenizer
    for text in TEXTS:
        ids = tok(text, add_special_tokens=False).input_ids
        assert ids == meta_tokenizer.encode(text, bos=False, eos=False), text
        assert tok(text).input_ids == [meta_tokenizer.bos_id, *ids]  # the BOS template
        assert tok.decode(ids) == text
    assert max(max(tok(t, add_special_tokens=False).input_ids) for t in TEXTS) < 128000  # no special ids


@needs_llama_models
def test_special_tokens_are_llama_3_2_visions(processor, meta_tokenizer, llama3_dir):
    tok = processor.tokenizer
    assert len(tok) == 128257
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (128000, 128001, 128004)
    assert tok.pad_token == "<|finetune_right_pad_id|>"
    # the first eleven sit where Meta's tokenizer puts them; <|image|> is at 128256 as on the hub
    # (llama-models' inference code moved it to 128011, shifting its reserved tokens by one)
    named = {t: i for t, i in meta_tokenizer.special_tokens.items() if i < 128011}
    assert len(named) == 11 and tok.convert_tokens_to_ids(list(named)) == list(named.values())
    assert tok.convert_tokens_to_ids("<|image|>") == 128256 == processor.image_token_id
    specials = [i for i, t in tok.added_tokens_decoder.items() if t.special]
    assert sorted(specials) == list(range(128000, 128257))
    for i in (128002, 128011, 128255):  # every special id decodes as one token and re-encodes to itself
        assert tok(tok.convert_ids_to_tokens(i), add_special_tokens=False).input_ids == [i]
    x = meta_tokenizer.encode("x", bos=False, eos=False)
    assert tok("<|image|><|begin_of_text|>x").input_ids == [128000, 128256, 128000, *x]
    config = json.loads((llama3_dir / "config.json").read_text())
    assert config["image_token_index"] == 128256 and config["text_config"]["pad_token_id"] == 128004
    assert config["text_config"]["vocab_size"] >= 128257 and config["text_config"]["hidden_size"] == 64
    assert config["text_config"]["num_hidden_layers"] == 2 and config["vision_config"]["image_size"] == 560
    saved = json.loads((llama3_dir / "processor_config.json").read_text())["image_processor"]
    assert {k: saved[k] for k in HUB_IMAGE_PROCESSOR} == HUB_IMAGE_PROCESSOR


def test_init_tiny_refuses_a_tokenizer_the_family_lacks(tmp_path, capsys):
    assert main(["init-tiny", "--backbone", "qwen2_vl", "--tokenizer", "llama3", str(tmp_path / "x")]) == 2
    assert "no tokenizer 'llama3'; choose one of: bpe" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_without_llama_models_init_tiny_says_what_to_install(tmp_path, monkeypatch, capsys):
    from functools import lru_cache

    from mme5.model import tokenizer

    monkeypatch.setitem(sys.modules, "llama_models", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "llama_models.llama3", None)
    # a fresh cache for this test: a conversion done by another test must not hide the error
    monkeypatch.setattr(tokenizer, "_llama3_json", lru_cache(maxsize=1)(tokenizer._llama3_json.__wrapped__))
    assert main(["init-tiny", "--backbone", "mllama", "--tokenizer", "llama3", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "the llama3 tokenizer needs Meta's `llama-models` package" in err and "pip install 'mme5[dev]'" in err
    assert not (tmp_path / "x").exists()


def original_mme5_vector(model, processor, hub_text: str, image) -> np.ndarray:
    """mmE5's LlamaEvalCollator + encoder, one item: the `<|image_1|>\\n` rewrite, the processor with
    max_length 256 and truncation, a full forward, the last token's final hidden state, L2."""
    if image is None:
        text = hub_text.replace("<|image_1|>\n", "<|begin_of_text|>")
        inputs = processor(text=text, images=None, return_tensors="pt", max_length=256, truncation=True)
    else:
        text = hub_text.replace("<|image_1|>\n", "<|image|><|begin_of_text|>")
        inputs = processor(text=text, images=[image], return_tensors="pt", max_length=256, truncation=True)
    with torch.no_grad():
        hidden = model(**inputs, output_hidden_states=True).hidden_states[-1]
    last = int(inputs["attention_mask"][0].sum()) - 1
    vec = hidden[0, last].double()
    return (vec / vec.norm()).numpy()


@needs_llama_models
def test_embed_cli_equals_original_mme5(llama3_dir, processor, tmp_path):
    from PIL import Image
    from transformers import MllamaForConditionalGeneration

    wide = Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 1200, 3), dtype=np.uint8))
    wide.save(tmp_path / "wide.png")  # wider than a tile: several 560 px tiles side by side
    long_text = " ".join(TEXTS) * 6  # several hundred tokens: cut at 256 ids
    items = [  # what a user writes ...
        {"image": "wide.png", "instruction": REPRESENT_IMAGE_WITH_QUESTION, "text": "What is in the image"},
        {"text": TEXTS[3], "instruction": FIND_IMAGE_FOR_CAPTION},
        {"text": f"<|image_1|>\n{REPRESENT_IMAGE}\n"},  # a stray placeholder without an image
        {"text": long_text},
    ]
    hub = [  # ... and the same items as the released data stores them
        (f"<|image_1|>\n{REPRESENT_IMAGE_WITH_QUESTION} What is in the image\n", wide),
        (f"{FIND_IMAGE_FOR_CAPTION} {TEXTS[3]}\n", None),
        (f"<|image_1|>\n{REPRESENT_IMAGE}\n", None),
        (long_text, None),
    ]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    assert (
        main(
            [
                "embed",
                "--input",
                str(tmp_path / "items.jsonl"),
                "--model",
                str(llama3_dir),
                "--device",
                "cpu",
                "--output",
                str(tmp_path / "out.npy"),
                "--batch-size",
                "4",
            ]
        )
        == 0
    )
    ours = np.load(tmp_path / "out.npy")

    model = MllamaForConditionalGeneration.from_pretrained(str(llama3_dir), dtype=torch.float32).eval()
    ref = np.stack([original_mme5_vector(model, processor, text, image) for text, image in hub])
    assert ours.shape == (4, 64) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    inputs = processor(text=hub[0][0].replace("<|image_1|>\n", "<|image|><|begin_of_text|>"), images=[wide])
    assert int(np.asarray(inputs["aspect_ratio_ids"]).max()) > 1  # the image really spans several tiles
    assert len(processor(text=long_text, max_length=256, truncation=True).input_ids[0]) == 256


@needs_llama_models
def test_train_two_steps(llama3_dir, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from mme5.config import load_config
    from mme5.training.config import TrainConfig
    from mme5.training.run import train

    monkeypatch.setenv("MME5_CACHE", str(tmp_path / "cache"))
    # text rows in the hub training schema: a backward pass through four 560 px tiles takes ~10 s on CPU;
    # the image path of training is covered by the BPE tiny models, the 560 px tower by the embed test
    rows = [
        dict(
            qry=f"{FIND_IMAGE_FOR_CAPTION} {TEXTS[i]}\n",
            qry_image_path="",
            pos_text=TEXTS[i + 1],
            pos_image_path="",
            neg_text=TEXTS[i + 2],
            neg_image_path="",
        )
        for i in range(4)
    ]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "run"
    overrides = {
        "output_dir": out,
        "model.name_or_path": llama3_dir,
        "data.sources": f'[{{path: "{data}"}}]',
        "data.negative_ratio": 1,
        "per_device_batch_size": 2,
        "max_steps": 2,
        "save_steps": 2,
        "logging_steps": 1,
        "learning_rate": 1e-3,
        "warmup_ratio": 0.0,
        "save_merged": False,
        "seed": 0,
    }
    train(load_config(TrainConfig, None, [f"{k}={v}" for k, v in overrides.items()]))

    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert len(losses) == 2 and all(np.isfinite(losses)), losses
    adapter = load_file(out / "lora" / "adapter_model.safetensors")
    lora_b = [v for k, v in adapter.items() if "lora_B" in k]
    assert lora_b and all(torch.isfinite(v).all() for v in adapter.values())
    assert max(float(v.abs().max()) for v in lora_b) > 0  # B starts at 0: two steps moved it
