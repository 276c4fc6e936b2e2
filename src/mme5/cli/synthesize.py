"""Synthesize mmE5-style training data with an MLLM (OpenAI-compatible server or local model).

    mme5 synthesize configs/synthesis/tiny-local.yaml output.dir=/tmp/synth num_samples=8

Resumable: run the same command again after a kill and it finishes the missing samples.
"""
from __future__ import annotations

NAME = "synthesize"
HELP = "make synthetic multimodal multilingual training data (resumable)"


def register(p) -> None:
    p.add_argument("config", help="YAML config (see configs/synthesis/)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. num_samples=100 backend.openai.concurrency=32")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from ..config import load_config
    from ..synthesis.config import SynthesisConfig
    from ..synthesis.runner import Synthesizer
    from ..synthesis.stats import render

    config = load_config(SynthesisConfig, args.config, args.overrides)
    stats = Synthesizer(config, progress=not args.no_progress).run()
    print(render(stats))
    print(f"output: {config.output.dir}/data (image root: {stats['image_root']}); "
          f"failures: {config.output.dir}/failed; stats: {config.output.dir}/stats.json")
    return 0
