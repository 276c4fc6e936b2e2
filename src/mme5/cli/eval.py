"""Evaluate a model on MMEB (36 tasks), XTD (7 or 11 languages) or your own MMEB-format tasks,
and report a finished run.

  mme5 eval mmeb  [TASK|BENCHMARK ...] --model DIR --data-dir MMEB_DIR --output RUN_DIR
  mme5 eval xtd   [LANG|xtd|xtd-11 ...] --model DIR --data-dir XTD_DIR --output RUN_DIR
  mme5 eval mmeb-v2 [TASK|BENCHMARK ...] --model DIR --data-dir DIR --image-dir MEDIA --output RUN_DIR [--profile NAME]
  mme5 eval tasks [NAME ...] --model DIR --data-dir DIR --output RUN_DIR
  mme5 eval ... --rerank RERANKER [--rerank-top-k 100]   (two-stage: docs/rerank.md)
  mme5 eval report RUN_DIR [--compare-published] [--leaderboard-json FILE]
  mme5 eval list

Without --data-dir the hub datasets are read (TIGER-Lab/MMEB-eval, Haon-Chen/XTD-10; then
--image-dir is the unpacked image archive). Finished tasks in RUN_DIR are reused (resume).
Under torchrun, encoding is sharded across the ranks.
"""

from __future__ import annotations

import logging

from .options import add_config_args, add_model_args, config_from_args, embedder_from_args

NAME = "eval"
HELP = "evaluate on MMEB / XTD / your own tasks, or report a run"

log = logging.getLogger(__name__)


def register(p) -> None:
    sub = p.add_subparsers(dest="eval_command", metavar="{mmeb,mmeb-v2,xtd,tasks,report,list}", required=True)
    mmeb = sub.add_parser("mmeb", help="MMEB tasks or benchmarks (default: all 36)")
    mmeb.add_argument(
        "names", nargs="*", default=["mmeb"], help="tasks or benchmarks: mmeb, mmeb-ind, mmeb-ood, mmeb-vqa, ..."
    )
    v2 = sub.add_parser("mmeb-v2", help="MMEB-V2: 78 tasks over images, videos and visual documents (default: all)")
    v2.add_argument(
        "names",
        nargs="*",
        default=["mmeb-v2"],
        help="tasks or benchmarks: mmeb-v2, mmeb-v2-image, mmeb-v2-video, mmeb-v2-visdoc, K700, ...",
    )
    xtd = sub.add_parser("xtd", help="XTD-10 caption -> image retrieval (default: mmE5's 7 languages)")
    xtd.add_argument("names", nargs="*", default=["xtd"], help="languages (it es ...), xtd (7) or xtd-11")
    tasks = sub.add_parser(
        "tasks",
        help="any registered tasks, or the MMEB-format subsets and BEIR document collections found in --data-dir",
    )
    tasks.add_argument("names", nargs="*", help="task / benchmark / subset names (default: every subset in --data-dir)")
    for s in (mmeb, v2, xtd, tasks):
        _common(s)
    report = sub.add_parser("report", help="tables, summary.json and chart.png of a finished run")
    report.add_argument("run_dir")
    report.add_argument("--compare-published", action="store_true", help="add the published numbers side by side")
    report.add_argument("--no-chart", action="store_true")
    report.add_argument(
        "--leaderboard-json",
        metavar="FILE",
        help="also write the MMEB-V2 leaderboard JSON (report_score_v2 format) of the run to FILE",
    )
    report.add_argument("--model-name", help="leaderboard metadata: model name (default: the run's --model)")
    report.add_argument("--model-size", default="", help="leaderboard metadata: model size, e.g. 2B")
    report.add_argument("--url", default="", help="leaderboard metadata: model URL")
    sub.add_parser("list", help="list the registered tasks and benchmarks")


def _common(s) -> None:
    s.add_argument("--output", required=True, help="run folder: tasks/*.json, summary.json, report.md, chart.png")
    s.add_argument("--data-dir", help="local data: MMEB-format subsets, or the original XTD layout")
    s.add_argument("--image-dir", help="image root (default: --data-dir; XTD: images/ beside the layout)")
    s.add_argument(
        "--skip-missing",
        action="store_true",
        default=None,
        help="drop rows whose images are missing (counted in the report) instead of failing",
    )
    s.add_argument("--max-rows", type=int, help="only the first N rows of each task (smoke tests)")
    s.add_argument("--protocol", nargs="+", choices=["row", "gallery"], help="XTD protocols to score (default both)")
    s.add_argument("--cache-dir", help="embedding cache root (default $MME5_CACHE/embeddings)")
    s.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    s.add_argument("--overwrite", action="store_true", help="recompute tasks already finished in --output")
    s.add_argument("--compare-published", action="store_true", help="print the published numbers side by side")
    s.add_argument("--no-chart", action="store_true")
    s.add_argument(
        "--dim",
        type=int,
        nargs="+",
        help="also score Matryoshka prefixes of these lengths, from the same float vectors (no re-encoding)",
    )
    s.add_argument(
        "--quantize",
        nargs="+",
        choices=["none", "int8", "binary"],
        help="also score these quantizations (at every --dim, else the full vector); report: one table",
    )
    s.add_argument(
        "--rescore-factor",
        type=int,
        help="also score each quantized / prefix view with its top 10 x N re-ranked by the full float vectors",
    )
    s.add_argument(
        "--rerank",
        metavar="RERANKER",
        help="two-stage: rerank each query's first-stage top K with this yes/no reranker (folder or hub id); "
        "writes <Task>_rerank_score.json / <Task>_rerank_pred.jsonl and a reranked column in the report",
    )
    s.add_argument(
        "--rerank-top-k", type=int, default=100, metavar="K", help="candidates reranked per query (default: 100)"
    )
    add_model_args(s, batch_size_default=None)  # under torchrun, --device defaults to cuda:LOCAL_RANK
    add_config_args(s, what="EvalConfig", examples=("batch_size=64", "data.max_rows=100", "ks=[1,10]"))


def _config(args):
    from dataclasses import replace

    from ..evaluation.runner import EvalConfig
    from ..quantize import views

    if any(d < 1 for d in args.dim or ()):
        from ..types import InputError

        raise InputError(f"--dim must be >= 1, got {min(args.dim)}")
    config = config_from_args(EvalConfig, args)
    data = {
        "data_dir": args.data_dir,
        "image_dir": args.image_dir,
        "skip_missing": args.skip_missing,
        "max_rows": args.max_rows,
    }
    flags = {
        "batch_size": args.batch_size,
        "cache_dir": args.cache_dir,
        "protocols": tuple(args.protocol) if args.protocol else None,
        "cache": False if args.no_cache else None,
        "views": tuple(v.name for v in views(args.dim or (), args.quantize or (), args.rescore_factor or 0)) or None,
    }
    flags["data"] = replace(config.data, **{k: v for k, v in data.items() if v is not None})
    return replace(config, **{k: v for k, v in flags.items() if v is not None})


def _select(args, config) -> list:
    """The task specs a command means, checked against what the data folder holds."""
    from ..evaluation.loaders import local_collections, local_subsets, present_locally
    from ..evaluation.tasks import custom_task, resolve_tasks
    from ..evaluation.xtd import is_layout
    from ..types import InputError, MissingFileError

    if args.eval_command == "xtd":
        names = [f"xtd-{n}" if n.isalpha() and len(n) == 2 else n for n in args.names]
        specs = resolve_tasks(names)
    elif args.eval_command == "tasks" and config.data.data_dir and not args.names:
        specs = [custom_task(name) for name in local_subsets(config.data.data_dir)]
        specs += [custom_task(name, beir=True) for name in local_collections(config.data.data_dir)]
    elif args.eval_command == "tasks":
        if not args.names:
            raise InputError("name the tasks to run, or give --data-dir to run every subset it holds")
        local = set(local_subsets(config.data.data_dir)) if config.data.data_dir else set()
        beir = set(local_collections(config.data.data_dir)) if config.data.data_dir else set()
        specs = []
        for name in args.names:
            specs += (
                [custom_task(name)]
                if name in local
                else [custom_task(name, beir=True)]
                if name in beir
                else resolve_tasks([name])
            )
    else:
        specs = resolve_tasks(args.names)
    families = {"mmeb-v2": ("mmeb", "mmeb-v2")}.get(args.eval_command, (args.eval_command,))
    wrong = [s.name for s in specs if args.eval_command != "tasks" and s.family not in families]
    if wrong:
        raise InputError(
            f"`mme5 eval {args.eval_command}` got tasks of another benchmark: {wrong}; use `mme5 eval tasks`"
        )
    if config.data.data_dir and not (args.eval_command == "xtd" and is_layout(config.data.data_dir)):
        absent = [s.name for s in specs if not present_locally(s, config.data.data_dir)]
        if absent and len(absent) == len(specs):
            raise MissingFileError(
                f"{config.data.data_dir} holds none of the requested tasks ({', '.join(absent[:5])}...)"
            )
        if absent:
            log.warning(
                "%d of %d tasks are not in %s and are left out (aggregates show n/N): %s",
                len(absent),
                len(specs),
                config.data.data_dir,
                ", ".join(absent),
            )
            specs = [s for s in specs if s.name not in absent]
    return specs


def run(args) -> int:
    if args.eval_command == "list":
        return _list()
    if args.eval_command == "report":
        from ..evaluation.report import write_report

        print(write_report(args.run_dir, compare_published=args.compare_published, chart=not args.no_chart))
        if args.leaderboard_json:
            from ..evaluation.mmeb_v2.leaderboard import write_leaderboard

            path = write_leaderboard(
                args.run_dir,
                args.leaderboard_json,
                model_name=args.model_name,
                model_size=args.model_size,
                url=args.url,
            )
            print(f"\nleaderboard JSON: {path}")
        return 0
    import os
    from pathlib import Path

    from ..config import to_dict
    from ..evaluation.distributed import init_from_env, is_main
    from ..evaluation.report import write_report
    from ..evaluation.runner import Runner
    from ..provenance import provenance, write_json

    distributed = init_from_env()
    config = _config(args)
    specs = _select(args, config)
    device = args.device or (f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if distributed and _cuda() else None)
    embedder = embedder_from_args(args, device=device)
    if args.model is None and is_main():
        print("model: embedded tiny Mllama with RANDOM weights (numbers are not meaningful; pass --model)")
    out = Path(args.output)
    rerank = _rerank_stage(args, config, device) if args.rerank else None
    runner = Runner(
        embedder, config, out, model_name=args.model or "tiny-mllama (random)", overwrite=args.overwrite, rerank=rerank
    )
    if is_main():
        write_json(
            out / "run.json",
            provenance(
                to_dict(config),
                command=f"eval {args.eval_command}",
                tasks=[s.name for s in specs],
                model=args.model,
                adapter=args.adapter,
                fingerprint=embedder.fingerprint,
                profile=embedder.profile,
                max_length=embedder.max_length,
                backbone=embedder.backbone.name,
                dim=embedder.dim,
                rerank={"model": args.rerank, "top_k": args.rerank_top_k, "fingerprint": rerank.fingerprint}
                if rerank
                else None,
            ),
        )
    runner.run(specs)
    if is_main():
        print(write_report(out, compare_published=args.compare_published, chart=not args.no_chart))
        print(
            f"\nresults: {out / 'tasks'}/*.json, {out / 'summary.json'}, {out / 'report.md'}"
            + ("" if args.no_chart else f", {out / 'chart.png'}")
        )
    return 0


def _rerank_stage(args, config, device):
    """The second stage `--rerank` names (its dtype and device are the embedder's)."""
    from ..evaluation.rerank import RerankStage
    from ..model.reranker import Reranker
    from ..types import InputError

    if args.rerank_top_k < 1:
        raise InputError(f"--rerank-top-k must be >= 1, got {args.rerank_top_k}")
    reranker = Reranker.from_pretrained(
        args.rerank, dtype=args.dtype, device=device or args.device, max_tokens=getattr(args, "max_batch_tokens", None)
    )
    return RerankStage(reranker, name=args.rerank, top_k=args.rerank_top_k, batch_size=config.batch_size)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _list() -> int:
    from ..evaluation.tasks import all_tasks, benchmarks

    print("| Task | Family | Meta-task | Split | Query -> target | Candidates | Hub |")
    print("|---|---|---|---|---|---|---|")
    for t in all_tasks():
        cands = t.n_candidates or ("whole pool" if t.protocol == "global" else "per row")
        hub = " / ".join(
            x for x in (t.hub_id, t.hub_config or ", ".join(t.hub_configs[:2]) + ("..." if t.hub_configs else "")) if x
        )
        print(
            f"| {t.name} | {t.family} | {t.v2_meta or t.meta_task} | {t.split or '–'} | {t.modality} | {cands} "
            f"| {hub} ({t.hub_split}) |"
        )
    print("\nBenchmarks:")
    for name, members in benchmarks().items():
        print(f"  {name} ({len(members)}): {' '.join(members)}")
    return 0
