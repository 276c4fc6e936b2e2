"""mteb: the encoder + ModelMeta, a local emoji task scored as an independent computation scores it,
and an XTD task in mteb's format whose numbers equal `mme5 eval xtd` on the same model and data."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mme5 import prompts
from mme5.types import Item

from .conftest import XTD_LANGS


def _recall_at_10(queries: np.ndarray, gallery: np.ndarray) -> float:
    scores = queries @ gallery.T
    rank = (scores > scores[np.arange(len(queries)), np.arange(len(queries))][:, None]).sum(axis=1)
    return float((rank < 10).mean())


def test_model_meta_languages_code_and_instructions(exported):
    from mteb.abstasks.task_metadata import TaskMetadata  # noqa: F401  (mteb importable)

    from mme5.integrations.mteb import instruction_for, mme5_model_meta
    from mme5.integrations.profile import training_code_url
    from mme5.synthesis.languages import XLMR_LANGUAGES

    meta = mme5_model_meta(exported("qwen2_vl", "hf").out_dir)
    assert len(meta.languages) == len(XLMR_LANGUAGES) == 93
    assert {"eng-Latn", "ita-Latn", "jpn-Jpan", "zho-Hans", "mlg-Latn"} <= set(meta.languages)
    assert meta.public_training_code == training_code_url() and meta.use_instructions
    assert meta.embed_dim == exported("qwen2_vl", "hf").profile.dim and meta.n_parameters > 0

    class T2I:
        category, type, prompt = "t2i", "Any2AnyRetrieval", {"query": "their wording"}

    assert instruction_for(T2I, "query", False) == prompts.FIND_IMAGE_FOR_CAPTION
    assert instruction_for(T2I, "document", True) == prompts.REPRESENT_IMAGE

    class Text:
        category, type, prompt = "t2t", "Retrieval", {"query": "their wording"}

    assert instruction_for(Text, "query", False) == "their wording"  # no mmE5 instruction: the task's own
    assert instruction_for(Text, "document", False) is None


def test_mteb_evaluate_emoji_task_offline(exported, reference):
    import mteb

    from mme5.integrations.mteb import load_mteb_model
    from mme5.integrations.mteb_tasks import emoji_task

    task = emoji_task(languages=("en", "de"), limit=24)
    result = mteb.evaluate(load_mteb_model(exported("qwen2_vl", "hf").out_dir), task, cache=None,
                           show_progress_bar=False)
    scores = {s["hf_subset"]: s["recall_at_10"] for s in result.task_results[0].scores["test"]}
    task.load_data()
    ref = reference("qwen2_vl")  # the adapter-on-base model, encoded by mme5 directly
    for lang in ("en", "de"):
        split = task.dataset[lang]["test"]
        q = ref.encode([Item(text=t, instruction=prompts.FIND_IMAGE_FOR_CAPTION) for t in split["queries"]["text"]])
        g = ref.encode([Item(image=img, instruction=prompts.REPRESENT_IMAGE) for img in split["corpus"]["image"]])
        assert scores[lang] == pytest.approx(_recall_at_10(q, g), abs=5e-6), lang  # mteb rounds to 5 places


def test_xtd_task_equals_mme5_eval_xtd(xtd_run, xtd_layout):
    import mteb

    from mme5.integrations.mteb import load_mteb_model
    from mme5.integrations.mteb_tasks import xtd_task

    model, run = xtd_run
    result = mteb.evaluate(load_mteb_model(model), xtd_task(xtd_layout), cache=None, show_progress_bar=False)
    scores = {s["hf_subset"]: s["recall_at_10"] for s in result.task_results[0].scores["test"]}
    assert sorted(scores) == sorted(XTD_LANGS)
    for lang in XTD_LANGS:
        ours = json.loads((run / "tasks" / f"xtd-{lang}.json").read_text())["protocols"]
        assert 100 * scores[lang] == pytest.approx(ours["gallery"]["original"]["recall@10"], abs=5e-4), lang
        assert 100 * scores[lang] == pytest.approx(ours["row"]["original"]["recall@10"], abs=5e-4), lang
    assert any(0 < scores[lang] < 1 for lang in XTD_LANGS), "a trivial score would prove nothing"
