"""Synthesize mmE5-style training data with an MLLM (OpenAI-compatible server or local model).

    mme5 synthesize configs/synthesis/tiny-local.yaml --set output.dir=/tmp/synth --set num_samples=8

Resumable: run the same command again after a kill and it finishes the missing samples.
"""

from __future__ import annotations

NAME = "synthesize"
HELP = "make synthetic multimodal multilingual training data (resumable)"


def register(p) -> None:
    from .options import add_config_args

    add_config_args(
        p,
        what="SynthesisConfig",
        positional=True,
        file_help="YAML config (see configs/synthesis/)",
        examples=("num_samples=100", "backend.openai.concurrency=32", "output.dir=/tmp/synth"),
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    import asyncio
    import logging
    import sys

    from ..synthesis.backends import BackendError
    from ..synthesis.config import SynthesisConfig
    from ..synthesis.runner import SynthesisStopped, Synthesizer
    from ..synthesis.stats import render
    from .options import config_from_args

    if not getattr(args, "verbose", False):  # httpx logs every request at INFO: thousands of lines
        logging.getLogger("httpx").setLevel(logging.WARNING)
    config = config_from_args(SynthesisConfig, args)
    try:
        stats = Synthesizer(config, progress=not args.no_progress).run()
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C or SIGTERM: finished samples are committed
        print(
            f"mme5 synthesize: interrupted; finished samples are committed in {config.output.dir}. "
            "Run the same command again to resume.",
            file=sys.stderr,
        )
        return 130
    except (BackendError, SynthesisStopped) as exc:  # e.g. a bad API key: no use failing every sample
        print(
            f"mme5 synthesize: stopped: {exc}\nFinished samples are committed in {config.output.dir}; "
            "fix the cause and run the same command again to resume.",
            file=sys.stderr,
        )
        return 1
    print(render(stats))
    print(
        f"output: {config.output.dir}/data (image root: {stats['image_root']}); "
        f"failures: {config.output.dir}/failed; stats: {config.output.dir}/stats.json"
    )
    return 0
