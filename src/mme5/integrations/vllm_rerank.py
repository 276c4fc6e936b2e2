"""`mme5 export --to vllm` for a reranker in the published Qwen3-VL-Reranker format: the merged
weights and the publishers' vLLM recipe (spec qwen3_vl_family.md §6): `--runner pooling` with
`hf_overrides` that make vLLM's `Qwen3VLForSequenceClassification` score with the LM head's
`yes` and `no` rows (sigmoid(h . (W[yes] - W[no])), as `Reranker` does), and a chat template that
renders a pair into exactly the text `Reranker.pair_text` gives the model.

The template is two-stage, like the publishers' `examples/reranker_template.jinja`: rendered once
with `instruction`, it leaves `{{ query_content }}` and `{{ doc_content }}` for the second render;
`content_text` writes a side's content as vLLM reads it (image pads, then text; `NULL` when empty).
Images and text only: the publishers' vLLM example passes no video.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..model.rerank_format import QWEN3_VL_RERANKER, conversation, render_parts, render_qwen, side_parts
from ..types import InputError, Item

HF_OVERRIDES = {
    "architectures": ["Qwen3VLForSequenceClassification"],
    "classifier_from_token": ["no", "yes"],
    "is_original_qwen3_reranker": True,
}
TEMPLATE_FILE = "reranker_template.jinja"
SERVE_FILE = "vllm_serve.sh"
EXAMPLE_FILE = "vllm_rerank_example.py"
_MARK = {"instruction": "\x00I\x00", "query": "\x00Q\x00", "document": "\x00D\x00"}


@dataclass
class RerankerExport:
    out_dir: Path
    notes: list[str] = field(default_factory=list)


def reranker_template() -> str:
    """The pair's chat text with Jinja slots for the instruction and both sides' content. It ends
    with an empty expression, as the publishers' does: Jinja drops a template's final newline, and
    the prompt must end with `assistant\n`."""
    text = render_qwen(conversation(Item(text=_MARK["query"]), Item(text=_MARK["document"]), _MARK["instruction"]))
    return (
        text.replace(_MARK["instruction"], "{{ instruction }}")
        .replace(_MARK["query"], "{% raw %}{{ query_content }}{% endraw %}")
        .replace(_MARK["document"], "{% raw %}{{ doc_content }}{% endraw %}")
        + '{% raw %}{{ "" }}{% endraw %}'
    )


def content_text(item: Item) -> str:
    """One side of a pair as the vLLM prompt carries it (its media go in `multi_modal_data`)."""
    if item.has_video:
        raise InputError("the vLLM reranker export takes text and image items (the publishers' vLLM recipe)")
    return render_parts(side_parts(item))


def serve_command(model_dir: str) -> str:
    return f"vllm serve {model_dir} --runner pooling --hf-overrides '{json.dumps(HF_OVERRIDES)}'"


EXAMPLE = '''"""Score pairs with vLLM (>= 0.14) exactly as mme5's Reranker does (written by mme5 export)."""
from pathlib import Path

from jinja2 import Template
from vllm import LLM

HERE = Path(__file__).parent
llm = LLM(model=str(HERE), runner="pooling", hf_overrides={overrides})
first = Template((HERE / "{template}").read_text()).render(
    instruction="Given a search query, retrieve relevant candidates that answer the query."
)
prompt = Template(first).render(query_content="a cat", doc_content="a small cat sleeping")
# an image side: content "<|vision_start|><|image_pad|><|vision_end|>" + text, the image in multi_modal_data
print(llm.classify([{{"prompt": prompt}}])[0].outputs.probs[0])
'''


def export_vllm_reranker(
    model: str | Path, out_dir: str | Path, *, adapter: str | Path | None, dtype: str, device: str | None
) -> RerankerExport:
    """Merge (adapter) and save the reranker, then the template, serve script and example."""
    from ..model.rerank_format import write_declaration
    from ..model.reranker import Reranker

    reranker = Reranker.from_pretrained(model, adapter=adapter, dtype=dtype, device=device or "cpu")
    if reranker.format != QWEN3_VL_RERANKER:
        raise InputError(
            f"--to vllm exports rerankers in the {QWEN3_VL_RERANKER} format (vLLM's Qwen3VLForSequenceClassification); "
            f"this one uses the {reranker.format} format on {reranker.backbone.name}: serve it with "
            "`mme5 serve --reranker`"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reranker.model.save_pretrained(out)  # type: ignore[operator]
    reranker.processor.save_pretrained(out)
    write_declaration(out, reranker.backbone, reranker.format)
    (out / TEMPLATE_FILE).write_text(reranker_template(), encoding="utf-8")
    script = (
        f'#!/bin/sh\n# Serve this mme5 reranker with vLLM (>= 0.14, GPU).\ncd "$(dirname "$0")"\n{serve_command(".")}\n'
    )
    (out / SERVE_FILE).write_text(script, encoding="utf-8")
    example = EXAMPLE.format(overrides=repr(HF_OVERRIDES), template=TEMPLATE_FILE)
    (out / EXAMPLE_FILE).write_text(example, encoding="utf-8")
    return RerankerExport(
        out,
        [
            f"vLLM: {serve_command(str(out))}",
            f"vLLM: prompts from {TEMPLATE_FILE} (render `instruction`, then `query_content` / `doc_content`); "
            f"see {EXAMPLE_FILE}",
        ],
    )
