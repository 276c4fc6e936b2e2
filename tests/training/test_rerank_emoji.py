"""A short reranker run on the real emoji data: CLDR names -> emoji images. Held-out pairs are
(image, language) pairs never trained (the image trained with its other languages); the first
stage is a tiny embedder's top 8 of the gallery, and the trained reranker's R@1 on those lists
must beat the first stage's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mme5.cli.main import main
from mme5.types import Item

IMAGES, LANGUAGES, TOP_K = 12, ("en", "de", "fr", "it", "es", "pl", "tr"), 8
INSTRUCTION = "Retrieve the emoji that the name describes."


@pytest.mark.slow
def test_reranker_trained_on_emoji_pairs_beats_its_first_stage(emoji_dir, tiny_embedder, tmp_path) -> None:
    from mme5 import Reranker
    from mme5.data.emoji import load_emoji_dir

    records = [r for r in load_emoji_dir(emoji_dir).records if all(lang in r.names for lang in LANGUAGES)]
    records = records[:: max(1, len(records) // IMAGES)][:IMAGES]
    rng = np.random.default_rng(0)
    held = {i: LANGUAGES[int(rng.integers(len(LANGUAGES)))] for i in range(len(records))}
    rows = [
        {"qry": r.names[lang], "qry_image_path": "", "pos_text": "", "pos_image_path": str(r.image)}
        for i, r in enumerate(records)
        for lang in LANGUAGES
        if lang != held[i]
    ]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    base, out = tmp_path / "base", tmp_path / "run"
    assert main(["init-tiny", "--reranker", str(base)]) == 0
    sets = [
        "task=rerank",
        f"model.name_or_path={base}",
        f"output_dir={out}",
        "model.finetune=full",
        "model.gradient_checkpointing=false",
        f"data.sources=[{{path: {tmp_path / 'train.jsonl'}}}]",
        "data.check_images=exists",
        "per_device_batch_size=6",
        "gradcache_chunk_size=null",
        "max_steps=120",
        "learning_rate=3e-4",
        "warmup_ratio=0.1",
        "rerank.negatives=3",
        "rerank.max_length=256",
        f"rerank.instruction={INSTRUCTION}",
    ]
    assert main(["train", "configs/train/tiny.yaml", *[a for s in sets for a in ("--set", s)]]) == 0

    queries = [Item(text=records[i].names[held[i]], instruction=INSTRUCTION) for i in range(len(records))]
    gallery = [Item(image=str(r.image)) for r in records]
    embedder = tiny_embedder("mllama")
    top = np.argsort(-(embedder.encode(queries) @ embedder.encode(gallery).T), axis=1, kind="stable")[:, :TOP_K]
    reranker = Reranker.from_pretrained(out)
    first, second = [], []
    for i, short in enumerate(top):
        scores = reranker.score(queries[i], [gallery[j] for j in short])
        first.append(short[0] == i)
        second.append(short[int(np.argmax(scores))] == i)
    assert np.mean(second) > np.mean(first), (np.mean(second), np.mean(first))
