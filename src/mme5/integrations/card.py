"""The exported model's README.md: hub metadata (`model-index` built from an `mme5 eval` run, so
the hub page shows exactly what was measured), the evaluation tables under both tie rules and
protocols, and how to load the folder with each tool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .profile import EmbeddingProfile, training_code_url

CARD_FILE = "README.md"


def card_languages() -> list[str]:
    """The card's `language:` list: the 93 XLM-R languages mmE5's synthetic data covers (ISO 639-1)."""
    from ..synthesis.languages import XLMR_LANGUAGES

    return [*sorted(XLMR_LANGUAGES), "multilingual"]


def model_index(results: list[dict[str, Any]], model_name: str) -> list[dict[str, Any]]:
    """Hub `model-index` entries: one per task, P@1 (MMEB) or R@10 (XTD), original and tie-aware ties."""
    entries = []
    for r in results:
        if r.get("family") == "xtd":
            row = r["protocols"]["row"]
            metrics = [
                {
                    "type": "recall_at_10",
                    "name": "Recall@10 (row protocol, original ties)",
                    "value": row["original"]["recall@10"],
                },
                {
                    "type": "recall_at_10",
                    "name": "Recall@10 (row protocol, tie-aware)",
                    "value": row["tie_aware"]["recall@10"],
                },
            ]
            gallery = r["protocols"].get("gallery")
            if gallery:
                metrics.append(
                    {
                        "type": "recall_at_10",
                        "name": "Recall@10 (full gallery, tie-aware)",
                        "value": gallery["tie_aware"]["recall@10"],
                    }
                )
            task_type = "text-to-image retrieval"
        else:
            metrics = [
                {"type": "precision_at_1", "name": "Precision@1 (original ties)", "value": r["score"]},
                {"type": "precision_at_1", "name": "Precision@1 (tie-aware)", "value": r["score_tie_aware"]},
            ]
            task_type = str(r.get("meta_task") or "retrieval")
        entries.append(
            {
                "task": {"type": task_type, "name": task_type},
                "dataset": {"name": r["task"], "type": r["task"], "split": r.get("split") or "test"},
                "metrics": metrics,
            }
        )
    return [{"name": model_name, "results": entries}]


def build_card(
    profile: EmbeddingProfile, *, target: str, results: str | Path | None = None, model_name: str = "mme5-model"
) -> str:
    """The README.md text: YAML front matter + usage + the run's report (when `results` is given)."""
    meta: dict[str, Any] = {
        "library_name": "sentence-transformers" if target == "sentence-transformers" else "transformers",
        "pipeline_tag": "feature-extraction",
        "language": card_languages(),
        "tags": ["mme5", "multimodal-embedding", "mmE5", profile.backbone],
    }
    report = ""
    if results is not None:
        from ..evaluation.aggregate import summarize_run
        from ..evaluation.report import load_run, markdown

        run = load_run(results)
        meta["model-index"] = model_index(run, model_name)
        report = markdown(run, summarize_run(run))
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    prompts = "\n".join(f"| `{name}` | {text} |" for name, text in profile.prompts.items())
    code_url = training_code_url()
    trained = f"with mme5 (training code: {code_url})" if code_url else "with mme5"
    lines = [
        "---",
        front.rstrip(),
        "---",
        "",
        f"# {model_name}",
        "",
        f"A multimodal multilingual embedding model ({profile.backbone}, {profile.dim} dimensions) trained "
        f"{trained}. Vectors: the final hidden state of the last "
        f"non-pad token, L2-normalised; inputs are formatted as `{profile.instruction_template!r}` after the "
        f"image tokens `{profile.image_text!r}` (see `mme5_embedding.json`)."
        + (
            f" Formatting profile: `{profile.formatting_profile}` (mme5.model.profiles); load with "
            f"`Embedder.from_pretrained('.', profile='{profile.formatting_profile}')`."
            if profile.formatting_profile != "mme5"
            else ""
        ),
        "",
        "## Instructions (named prompts)",
        "",
        "| name | instruction |",
        "|---|---|",
        prompts,
        "",
        "## Use",
        "",
        "```python",
        "from mme5 import Embedder",
        "model = Embedder.from_pretrained('.')",
        f"vectors = model.encode([{{'text': 'a cat', 'instruction': '{profile.prompts.get('t2i_query', '')}'}}])",
        "```",
        "",
    ]
    if target == "sentence-transformers":
        from .st_native import native_refusal

        load = (
            ["from sentence_transformers import SentenceTransformer", "model = SentenceTransformer('.')"]
            if native_refusal(profile) is None
            else [
                "from mme5.integrations.sentence_transformers import load_sentence_transformer",
                "model = load_sentence_transformer('.')",
            ]
        )
        lines += ["```python", *load, "vectors = model.encode(['a cat'], prompt_name='t2i_query')", "```", ""]
    if report:
        lines += [
            "## Evaluation (mme5 eval; both tie rules and protocols)",
            "",
            "Original ties: candidates ordered by score, ties broken by list order (the positive first), as the "
            "mmE5/VLM2Vec scripts score. Tie-aware: the positive ranks below every candidate scoring as high "
            "(a collapsed model scores 0, not 100).",
            "",
            report.split("\n", 2)[-1].strip(),
            "",
        ]
    return "\n".join(lines) + "\n"


def write_model_card(
    out_dir: str | Path,
    profile: EmbeddingProfile,
    *,
    target: str,
    results: str | Path | None = None,
    model_name: str | None = None,
) -> Path:
    path = Path(out_dir) / CARD_FILE
    path.write_text(
        build_card(profile, target=target, results=results, model_name=model_name or Path(out_dir).name),
        encoding="utf-8",
    )
    return path
