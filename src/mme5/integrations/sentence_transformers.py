"""`--to sentence-transformers`: the folder loads as a SentenceTransformer whose `encode` returns
mme5's vectors for texts, images and image+text inputs, with mmE5's instructions as named prompts.

Two paths, chosen per export (`mme5.integrations.st_native.native_refusal`):
- native (Mllama, Idefics3, LLaVA-NeXT): sentence-transformers' own modules and a chat template that
  renders mme5's input string (`mme5.integrations.st_native`); `SentenceTransformer(OUT)` loads it.
- mme5's input module (the Qwen-VL families, and any non-default formatting profile): the stack is
  [MME5Input, Pooling("lasttoken"), Normalize()]. MME5Input runs mme5's own `Embedder.prepare` and the
  inner model and hands sentence-transformers token embeddings + attention mask, because the Qwen-VL
  processors cannot be built through `AutoProcessor` without torchvision. sentence-transformers >= 6
  loads a module class from outside its package only when told to trust remote code, which mme5
  never asks of a user: `load_sentence_transformer` builds that stack directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from sentence_transformers.base.modules.input_module import InputModule

from ..model.embedder import Embedder, Prepared, inner_model
from ..types import InputError, Item
from .profile import EmbeddingProfile

INPUT_MODULE_CLASS = "mme5.integrations.sentence_transformers.MME5Input"
CONFIG_FILE = "mme5_st_config.json"


class MME5Input(InputModule):
    """sentence-transformers input module: mme5 formatting + processor + inner model forward."""

    config_file_name = CONFIG_FILE
    config_keys = ["max_length", "backbone", "dtype", "profile"]
    save_in_root = True

    def __init__(
        self,
        model_name_or_path: str,
        max_length: int = 256,
        backbone: str | None = None,
        dtype: str = "float32",
        profile: str = "mme5",
    ) -> None:
        super().__init__()
        self.max_length = max_length
        self.backbone = backbone
        self.dtype = dtype
        self.profile = profile
        self.embedder = Embedder.from_pretrained(
            model_name_or_path, backbone=backbone, dtype=dtype, device="cpu", max_length=max_length, profile=profile
        )
        self.auto_model = self.embedder.model  # a registered submodule: `.to(device)` moves it
        self.tokenizer = self.embedder.tokenizer

    @property
    def modalities(self) -> list[Any]:
        return ["text", "image", ("image", "text"), "message"]

    def get_embedding_dimension(self) -> int:
        return self.embedder.dim

    def preprocess(self, inputs: Sequence[Any], prompt: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Inputs (str, PIL image, {"text", "image"} dict or mme5 Item) -> mme5's prepared batch; the
        prompt is the item's instruction."""
        items = [to_item(x, prompt, f"input {i}") for i, x in enumerate(inputs)]
        return {"mme5_prepared": self.embedder.prepare(items)}

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Run each part of the prepared batch; (batch, seq, dim) token embeddings in input order,
        right-padded across parts, and the matching attention mask."""
        prepared: Prepared = features["mme5_prepared"]
        device = next(self.auto_model.parameters()).device
        hidden, masks, order = [], [], []
        for rows, inputs in prepared.parts:
            inputs = {k: v.to(device) if torch.is_tensor(v) else v for k, v in inputs.items()}
            out = inner_model(self.auto_model)(**inputs, use_cache=False, return_dict=True).last_hidden_state
            hidden.append(out)
            masks.append(inputs["attention_mask"])
            order.extend(rows)
        seq = max(h.shape[1] for h in hidden)
        tokens = torch.cat([torch.nn.functional.pad(h, (0, 0, 0, seq - h.shape[1])) for h in hidden])
        mask = torch.cat([torch.nn.functional.pad(m, (0, seq - m.shape[1])) for m in masks])
        back = torch.argsort(torch.tensor(order, device=tokens.device))
        features.update(token_embeddings=tokens[back], attention_mask=mask[back])
        return features

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        """The config, plus the merged checkpoint and processor if the folder lacks them."""
        out = Path(output_path)
        if not (out / "config.json").is_file():
            from .hf import restore_stock_processor_class

            model: Any = self.auto_model
            model.save_pretrained(out, safe_serialization=safe_serialization)
            self.embedder.processor.save_pretrained(out)
            restore_stock_processor_class(out)
        self.save_config(output_path)

    @classmethod
    def load(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        init_defaults: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> MME5Input:
        config = cls.load_config(
            model_name_or_path,
            subfolder=subfolder,
            token=token,
            cache_folder=cache_folder,
            revision=revision,
            local_files_only=local_files_only,
        )
        return cls(model_name_or_path, **config)


def to_item(x: Any, prompt: str | None, where: str) -> Item:
    """One sentence-transformers input as an mme5 Item; `prompt` becomes its instruction."""
    from PIL import Image

    if isinstance(x, Item):
        return x if x.instruction or not prompt else Item(**{**x.__dict__, "instruction": prompt})
    if isinstance(x, str):
        return Item(text=x, instruction=prompt or None)
    if isinstance(x, Image.Image):
        return Item(image=x, instruction=prompt or None)
    if isinstance(x, dict):
        unknown = set(x) - {"text", "image"}
        if unknown:
            raise InputError(f"{where}: unknown key(s) {sorted(unknown)}; an mme5 input dict has text and/or image")
        return Item(text=x.get("text"), image=x.get("image"), instruction=prompt or None)
    raise InputError(
        f"{where}: expected a string, a PIL image, a {{'text', 'image'}} dict or an mme5 Item, got {type(x).__name__}"
    )


def export_sentence_transformers(embedder: Embedder, out_dir: str | Path, profile: EmbeddingProfile) -> str:
    """Write the sentence-transformers files into `out_dir` (which already holds the merged checkpoint,
    see `mme5.integrations.hf.export_hf`): the native stack where `native_refusal` allows it, else mme5's
    input module. Returns a note saying which and how to load it."""
    from .st_native import native_refusal, write_native

    refusal = native_refusal(profile)
    if refusal is None:
        write_native(out_dir, profile)
        mixed = (
            "; Mllama: encode texts and images in separate calls (a batch mixing them differs, docs/export.md)"
            if profile.backbone == "mllama"
            else ""
        )
        return (
            f"sentence-transformers: SentenceTransformer('{out_dir}') (its own Transformer module and the "
            "folder's chat template; no mme5 import needed); prompts = mmE5 instructions: "
            f"encode(texts, prompt_name='t2i_query'), encode_query / encode_document{mixed}"
        )
    _write_input_module_stack(embedder, out_dir, profile.prompts)
    return (
        f"sentence-transformers: mme5.integrations.sentence_transformers.load_sentence_transformer('{out_dir}') "
        f"(mme5's input module, because {refusal}); prompts = mmE5 instructions: "
        "encode(texts, prompt_name='t2i_query')"
    )


def _write_input_module_stack(embedder: Embedder, out_dir: str | Path, prompts: dict[str, str]) -> None:
    """modules.json, the module configs and the prompts of the [MME5Input, Pooling, Normalize] stack."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    module = MME5Input.__new__(MME5Input)
    InputModule.__init__(module)
    module.max_length, module.backbone, module.dtype = embedder.max_length, embedder.backbone.name, "float32"
    module.profile = embedder.profile
    module.embedder, module.auto_model, module.tokenizer = embedder, embedder.model, embedder.tokenizer
    stack = SentenceTransformer(
        modules=[module, Pooling(embedder.dim, pooling_mode="lasttoken"), Normalize()], prompts=prompts, device="cpu"
    )
    stack.save(str(out_dir))


def load_sentence_transformer(path: str | Path, device: str | None = None) -> Any:
    """Load an exported folder as a SentenceTransformer without `trust_remote_code`. A native export is
    plain `SentenceTransformer(path)`; for mme5's input module the class is handed over directly
    (sentence-transformers >= 6 otherwise asks for the flag for any class outside its own package, even
    one from an installed package)."""
    import json

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util.misc import import_from_string

    root = Path(path)
    entries = json.loads((root / "modules.json").read_text(encoding="utf-8"))
    if all(entry["type"] != INPUT_MODULE_CLASS for entry in entries):
        return SentenceTransformer(str(root), device=device)
    modules = []
    for entry in entries:
        kind = entry["type"]
        if kind == INPUT_MODULE_CLASS:
            cls: Any = MME5Input
        elif kind.startswith("sentence_transformers."):
            cls = import_from_string(kind)
        else:
            raise InputError(f"{root}/modules.json: module type {kind!r} is not part of an mme5 export")
        modules.append(cls.load(str(root / entry["path"]) if entry["path"] else str(root)))
    config = json.loads((root / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    return SentenceTransformer(
        modules=modules,
        prompts=config.get("prompts"),
        default_prompt_name=config.get("default_prompt_name"),
        device=device,
    )
