"""Training-test helpers: one torch thread (2 shared cores: more threads only spin), trainable tiny
models, and mixed image/text examples with hard negatives."""
from __future__ import annotations

import pytest
import torch

from mme5.types import ContrastiveExample, Item


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    """Also covers module fixtures: equal thread counts give bit-equal reductions across runs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def trainable(tiny_dirs):
    """trainable(backbone, dropout=0.0, perturb=True) -> ContrastiveModel with a DoRA adapter whose
    weights are random (a fresh adapter has B = 0, which zeroes the gradient of A)."""

    def make(backbone: str, *, dropout: float = 0.0, perturb: bool = True, seed: int = 0):
        from mme5.training.config import LoraSettings, ModelConfig
        from mme5.training.model import build_model

        cfg = ModelConfig(name_or_path=str(tiny_dirs(backbone)), max_length=64, lora=LoraSettings(dropout=dropout))
        model = build_model(cfg, seed=seed)
        if perturb:
            gen = torch.Generator().manual_seed(seed + 1)
            with torch.no_grad():
                for p in model.trainable_parameters().values():
                    p.add_(torch.randn(p.shape, generator=gen) * 0.1)
        return model

    return make


@pytest.fixture
def mixed_examples(tmp_path, rgb_images):
    """Six examples mixing text-only / image / image+text on every side, hard negatives with and
    without images, and one example with fewer negatives (a padding slot)."""
    paths = []
    for i, img in enumerate(rgb_images):
        paths.append(str(tmp_path / f"img{i}.png"))
        img.save(paths[-1])
    img_target = "<|image_1|>\nRepresent the given image.\n"
    q_img = "<|image_1|>\nRepresent the given image with the following question: what is shown?\n"
    ex = [
        ContrastiveExample(Item(text="Find an image of a cat"), Item(text=img_target, image=paths[0]),
                           (Item(text=img_target, image=paths[1]), Item(text=img_target, image=paths[2]))),
        ContrastiveExample(Item(text=q_img, image=paths[1]), Item(text="a red square"),
                           (Item(text="a blue circle"), Item(text="a green cross"))),
        ContrastiveExample(Item(text="which caption is right"), Item(text="the dog sleeps"),
                           (Item(text="le chien dort"), Item(text="der Hund schläft"))),
        ContrastiveExample(Item(text=q_img, image=paths[2]), Item(text="Wikipedia image", image=paths[3]),
                           (Item(text="other page", image=paths[0]), Item(text="a plain text negative"))),
        ContrastiveExample(Item(text="<|image_1|>\nstray placeholder without image"), Item(text="answer 42"),
                           (Item(text="answer 41"),)),
        ContrastiveExample(Item(image=paths[3]), Item(text="a photo of noise"),
                           (Item(text="a photo of a cat"), Item(text="", image=paths[1]))),
    ]
    return ex, [f"example {i}" for i in range(len(ex))]


@pytest.fixture
def schema_jsonl(tmp_path, rgb_images):
    """Eight rows in the hub training schema (relative image paths, Python-literal negative lists)."""
    import json

    (tmp_path / "images").mkdir(exist_ok=True)
    for i, img in enumerate(rgb_images):
        img.save(tmp_path / "images" / f"{i}.png")
    target = "<|image_1|>\nRepresent the given image.\n"
    rows = []
    for i in range(8):
        a, b, c = f"images/{i % 4}.png", f"images/{(i + 1) % 4}.png", f"images/{(i + 2) % 4}.png"
        if i % 3 == 0:    # text -> image
            row = dict(qry=f"Find me an image for caption {i}\n", qry_image_path="", pos_text=target, pos_image_path=a,
                       neg_text=repr([target, target]), neg_image_path=repr([b, c]))
        elif i % 3 == 1:  # image + text -> text
            row = dict(qry=f"<|image_1|>\nRepresent the given image with the following question: q{i}?\n",
                       qry_image_path=a, pos_text=f"answer {i}", pos_image_path="",
                       neg_text=json.dumps([f"wrong {i}", ""]), neg_image_path="")
        else:             # text -> text, a bare-string negative
            row = dict(qry=f"query number {i}", qry_image_path="", pos_text=f"document {i}", pos_image_path="",
                       neg_text=f"unrelated document {i}", neg_image_path="")
        rows.append(row)
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
