"""`mme5 export --to vllm` of a reranker: the exported chat template renders exactly the text the
Reranker feeds the model, the serve command carries the publishers' overrides, the weights score alike."""

from __future__ import annotations

import json

import numpy as np
import pytest
from jinja2 import Template
from PIL import Image

from mme5.cli.main import main
from mme5.types import Item

IMAGE = Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("vllm-rr")
    assert main(["init-tiny", "--reranker", str(root / "rr")]) == 0
    assert main(["export", "--model", str(root / "rr"), "--to", "vllm", str(root / "out")]) == 0
    return root


PAIRS = [
    (Item(text="a cat"), Item(text="a small cat sleeping"), None),
    (Item(text="what is this?", image=IMAGE), Item(text="a dog"), "Find the answer."),
    (Item(text="red things"), Item(text="a red apple", image=IMAGE), "Retrieve images or text relevant to the query."),
    (Item(image=IMAGE, instruction="Find a similar image."), Item(image=IMAGE), None),
]


@pytest.mark.parametrize(("query", "document", "instruction"), PAIRS)
def test_exported_template_renders_the_reranker_text(exported, query, document, instruction) -> None:
    from mme5 import Reranker
    from mme5.integrations.vllm_rerank import TEMPLATE_FILE, content_text
    from mme5.model.rerank_format import DEFAULT_INSTRUCTION

    reranker = Reranker.from_pretrained(exported / "out")
    template = (exported / "out" / TEMPLATE_FILE).read_text()
    first = Template(template).render(instruction=instruction or query.instruction or DEFAULT_INSTRUCTION)
    prompt = Template(first).render(query_content=content_text(query), doc_content=content_text(document))
    assert prompt == reranker.pair_text(query, document, instruction)


def test_export_writes_the_publishers_command_and_the_same_model(exported) -> None:
    from mme5 import Reranker

    script = (exported / "out" / "vllm_serve.sh").read_text()
    overrides = json.loads(script.split("--hf-overrides '")[1].split("'")[0])
    assert overrides == {
        "architectures": ["Qwen3VLForSequenceClassification"],
        "classifier_from_token": ["no", "yes"],
        "is_original_qwen3_reranker": True,
    }
    compile((exported / "out" / "vllm_rerank_example.py").read_text(), "example", "exec")
    docs = ["a small cat", Item(image=IMAGE, text="photo")]
    before = Reranker.from_pretrained(exported / "rr").score("a cat", docs)
    after = Reranker.from_pretrained(exported / "out").score("a cat", docs)
    assert np.allclose(before, after, atol=1e-6)


def test_an_mme5_format_reranker_is_refused(tmp_path, capsys) -> None:
    assert main(["init-tiny", "--reranker", "--backbone", "qwen2_vl", str(tmp_path / "rr")]) == 0
    assert main(["export", "--model", str(tmp_path / "rr"), "--to", "vllm", str(tmp_path / "out")]) == 2
    assert "mme5 serve --reranker" in capsys.readouterr().err
