"""`--to onnx`: the TEXT path of a backbone (decoder + last-token pooling + L2) as one ONNX graph,
and a small encoder that runs it with onnxruntime and the `tokenizers` library (no torch,
no transformers): what fastembed-style deployments need for text queries.

Not exported: the image path. Qwen-VL vision towers build their patch grid, rotary tables and
`cu_seqlens` from each image's size at run time, and Mllama tiles images and feeds the text
model through gated cross-attention; both need the Python preprocessing of the processor. Images
stay with transformers (`mme5`, sentence-transformers) or vLLM."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..types import InputError, Item
from .profile import EmbeddingProfile, read_profile

ONNX_DIR = "onnx"
ONNX_FILE = "text_model.onnx"
OPSET = 17


def _text_module(embedder: Any) -> Any:
    import torch

    from ..model.embedder import inner_model
    from ..model.pooling import last_token_pool, normalize

    class TextPath(torch.nn.Module):
        """(input_ids, attention_mask) (batch, seq) -> (batch, dim) L2-normalised embeddings."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = inner_model(embedder.model)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, use_cache=False, return_dict=True
            ).last_hidden_state
            return normalize(last_token_pool(hidden, attention_mask).float())

    return TextPath().eval()


def export_onnx(embedder: Any, out_dir: str | Path) -> list[str]:
    """Trace the text path with torch.onnx (TorchScript exporter, dynamic batch and length) into
    OUT/onnx/text_model.onnx; returns notes for the user."""
    import torch

    out = Path(out_dir) / ONNX_DIR
    out.mkdir(parents=True, exist_ok=True)
    sample = embedder.prepare([Item(text="a short text"), Item(text="a somewhat longer text to pad the batch")])
    inputs = {k: v.to(embedder.device) for k, v in sample.parts[0][1].items() if k in ("input_ids", "attention_mask")}
    model = embedder.model
    previous = model.config._attn_implementation
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")  # sdpa's mask handling does not trace into ONNX ops
    try:
        with torch.no_grad():
            torch.onnx.export(
                _text_module(embedder),
                (inputs["input_ids"], inputs["attention_mask"]),
                str(out / ONNX_FILE),
                dynamo=False,
                input_names=["input_ids", "attention_mask"],
                output_names=["embedding"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "seq"},
                    "attention_mask": {0: "batch", 1: "seq"},
                    "embedding": {0: "batch"},
                },
                opset_version=OPSET,
            )
    finally:
        if hasattr(model, "set_attn_implementation"):
            model.set_attn_implementation(previous)
    return [
        f"ONNX: text path only in {out / ONNX_FILE} (run it with mme5.integrations.onnx.OnnxTextEncoder); "
        "images are not exported (their preprocessing and vision towers need the transformers processor)"
    ]


class OnnxTextEncoder:
    """Text items -> mme5 vectors with onnxruntime + `tokenizers` (formatting from mme5_embedding.json)."""

    def __init__(
        self, model_dir: str | Path, *, providers: Sequence[str] = ("CPUExecutionProvider",), threads: int | None = None
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        root = Path(model_dir)
        path = root / ONNX_DIR / ONNX_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; run `mme5 export --to onnx` first")
        self.profile: EmbeddingProfile = read_profile(root)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=list(providers))
        self.tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
        config = json.loads((root / "tokenizer_config.json").read_text(encoding="utf-8"))
        pad = config.get("pad_token")
        pad = pad.get("content") if isinstance(pad, dict) else pad
        self.pad_id = self.tokenizer.token_to_id(pad) if pad else 0
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.profile.max_length)

    @property
    def dim(self) -> int:
        return self.profile.dim

    def encode(self, items: Sequence[Item | str], batch_size: int = 16) -> np.ndarray:
        """Text items (or strings) -> (n, dim) float32, L2-normalised; images are refused."""
        from ..model.formatting import format_text

        spec = self.profile.spec
        texts = []
        for i, x in enumerate(items):
            item = Item(text=x) if isinstance(x, str) else x
            if item.has_image:
                raise InputError(
                    f"item {i}: the ONNX export covers text only; encode images with mme5 or sentence-transformers"
                )
            text = format_text(item, spec)
            prefix = self.profile.processor_text_prefix
            texts.append(text if not prefix or prefix in text else prefix + text)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            ids = [e.ids for e in self.tokenizer.encode_batch(texts[start : start + batch_size])]
            width = max(len(row_ids) for row_ids in ids)
            input_ids = np.full((len(ids), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(ids), width), dtype=np.int64)
            for row, row_ids in enumerate(ids):
                n = len(row_ids)
                span = slice(width - n, width) if self.profile.padding_side == "left" else slice(0, n)
                input_ids[row, span], mask[row, span] = row_ids, 1
            out[start : start + len(ids)] = self.session.run(None, {"input_ids": input_ids, "attention_mask": mask})[0]
        return out
