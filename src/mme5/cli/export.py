"""Export a model (optionally with a LoRA/DoRA adapter merged) for another tool:

  mme5 export [--model DIR] [--adapter DIR] --to hf|sentence-transformers|vllm|onnx OUT [--results RUN]
              [--push-to-hub REPO [--token TOKEN] [--private]]

Every target writes the merged checkpoint, processor, tokenizer, chat template, `mme5_embedding.json`
(pooling, normalisation, dimension, max length, formatting, per-task instructions) and a model card
(README.md; with --results RUN its `model-index` metadata and tables come from that `mme5 eval` run).
See docs/export.md for what is exact with each tool.
"""

from __future__ import annotations

from .options import add_model_args

NAME = "export"
HELP = "export a model for transformers, sentence-transformers, vLLM, ONNX Runtime or the hub"


def register(p) -> None:
    import argparse

    from ..integrations.export import TARGETS

    p.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the usage lines of the docstring
    add_model_args(
        p, batches=False, auto_dtype="float32 on every device; bfloat16 halves the files", default_device="cpu"
    )
    p.add_argument("out_dir", metavar="OUT", help="folder to write (created; existing files are overwritten)")
    p.add_argument("--to", dest="target", required=True, choices=list(TARGETS), help="the tool to export for")
    p.add_argument("--results", metavar="RUN", help="an `mme5 eval` run folder: its tables go into the model card")
    p.add_argument("--push-to-hub", metavar="REPO", help="upload OUT to this hub repository (owner/name)")
    p.add_argument("--token", help="hub token for --push-to-hub (default: HF_TOKEN / the saved login)")
    p.add_argument("--private", action="store_true", help="create the hub repository as private")


def run(args) -> int:
    from ..integrations.export import export
    from ..model.loading import ensure_tiny

    model = args.model or ensure_tiny()  # the embedded tiny default, as for every command
    dtype = "float32" if args.dtype == "auto" else args.dtype
    result = export(
        model,
        args.out_dir,
        args.target,
        adapter=args.adapter,
        dtype=dtype,
        max_length=args.max_length,
        results=args.results,
        model_name=args.push_to_hub,
        profile=args.profile,
        device=args.device,
    )
    name = args.model or f"the embedded tiny model ({model})"
    print(f"exported {name}{' + ' + args.adapter if args.adapter else ''} for {args.target} to {result.out_dir}")
    for note in result.notes:
        print(f"  {note}")
    if args.push_to_hub:
        from ..integrations.hub import push_to_hub

        url = push_to_hub(result.out_dir, args.push_to_hub, token=args.token, private=args.private)
        print(f"uploaded to {url}")
    return 0
