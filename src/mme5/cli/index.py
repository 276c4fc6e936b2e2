"""Vector indexes over a corpus (JSONL `{text, image, instruction, language, id?, meta?}`, a parquet
file with those columns, or a folder of images): `mme5 index build` embeds it into vector shards
(one process, or Ray Data with --engine ray; resumable) and an index (faiss flat / IVF / PQ / HNSW,
or a LanceDB table) with its recall@10 measured; `mme5 index search` queries one.
`mme5 serve --index DIR` serves it at POST /v1/search. See docs/scale.md."""

from __future__ import annotations

from .options import add_model_args

NAME = "index"
HELP = "build (and query) a vector index over a corpus"


def add_knob_args(p) -> None:
    """--nprobe / --ef-search: the search effort of IVF / HNSW indexes (default: tuned at build time)."""
    p.add_argument(
        "--nprobe",
        type=int,
        help="IVF lists scanned per query (default: the value the build tuned "
        "to reach its target recall; see index.json)",
    )
    p.add_argument("--ef-search", type=int, help="HNSW candidate list size per query (default: tuned at build time)")


def register(p) -> None:
    from ..index.ann import KINDS

    sub = p.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="embed a corpus into an index folder (resumes an interrupted build)")
    build.add_argument(
        "--input",
        required=True,
        help="corpus: JSONL, .parquet or a folder of images; relative image paths are relative to it",
    )
    build.add_argument("--output", required=True, help="index folder to write")
    build.add_argument(
        "--shard-size",
        type=int,
        default=1024,
        help="items per vector shard: the unit of work and of resuming (default: %(default)s)",
    )
    build.add_argument(
        "--engine",
        default="local",
        choices=["local", "ray"],
        help="local: this process; ray: Ray Data, CPU tasks + an actor pool of model replicas",
    )
    build.add_argument(
        "--actors",
        type=int,
        default=2,
        help="model replicas for --engine ray (one GPU each where the cluster has GPUs; default: %(default)s)",
    )
    build.add_argument(
        "--ray-address",
        help="an existing Ray cluster (default: $RAY_ADDRESS, else a local Ray started in this process)",
    )
    build.add_argument(
        "--index",
        default="auto",
        choices=[*KINDS, "auto"],
        help="index type; auto picks type and parameters from size, dim and --memory-budget",
    )
    build.add_argument("--memory-budget", default="4G", help="most memory the index may take (e.g. 512M, 16G)")
    build.add_argument(
        "--sink",
        default="faiss",
        choices=["faiss", "lance"],
        help="faiss index file, or a LanceDB table with an ANN index",
    )
    build.add_argument(
        "--target-recall",
        type=float,
        default=0.95,
        help="recall@10 the search setting (nprobe / ef_search) is tuned to reach",
    )
    add_model_args(build)  # --batch-size: items per forward, per model replica with --engine ray
    search = sub.add_parser("search", help="query an index from the command line")
    search.add_argument("index", help="index folder")
    search.add_argument("--text", help="query text")
    search.add_argument("--image", help="query image path")
    search.add_argument("--instruction", help="query instruction")
    search.add_argument("--top-k", type=int, default=5)
    add_knob_args(search)
    add_model_args(search)


def run(args) -> int:
    return {"build": _build, "search": _search}[args.index_command](args)


def _spec(args):
    from ..index.engines import EmbedderSpec

    return EmbedderSpec(
        model=args.model,
        adapter=args.adapter,
        dtype=args.dtype,
        device=args.device,
        max_length=args.max_length,
        profile=args.profile,
    )


def _build(args) -> int:
    from ..index.ann import parse_bytes
    from ..index.build import IndexOptions, build_index
    from ..index.engines import EngineOptions

    config = {
        k: getattr(args, k)
        for k in (
            "input",
            "output",
            "model",
            "adapter",
            "dtype",
            "max_length",
            "profile",
            "batch_size",
            "shard_size",
            "engine",
            "actors",
            "index",
            "memory_budget",
            "sink",
            "target_recall",
        )
    }
    options = IndexOptions(
        kind=args.index, memory_budget=parse_bytes(args.memory_budget), sink=args.sink, target_recall=args.target_recall
    )
    engine = EngineOptions(batch_size=args.batch_size, actors=args.actors, ray_address=args.ray_address)
    index = build_index(
        _spec(args),
        args.input,
        args.output,
        engine=args.engine,
        engine_options=engine,
        index=options,
        shard_size=args.shard_size,
        config=config,
        model=args.model or "mme5-tiny",
    )
    built = index.info["index"]
    knob = "".join(f", {k}={v}" for k, v in built["search"].items())
    print(
        f"indexed {len(index)} items (dim {index.dim}) into {args.output}: {built['sink']} {built['type']} "
        f"({built['factory']}{knob}), recall@10 {built['recall_at_10']:.3f} on {built['recall_queries']} "
        f"held-out queries, {built['bytes'] / 2**20:.1f} MiB"
    )
    return 0


def _search(args) -> int:
    from ..serving.index import VectorIndex
    from ..types import InputError, Item

    if not (args.text or args.image or args.instruction):
        raise InputError("give a query: --text, --image and/or --instruction")
    index = VectorIndex.load(args.index)
    embedder = _spec(args).load()
    if index.fingerprint != embedder.fingerprint:
        raise InputError(
            f"{args.index} was built with another model (fingerprint {index.fingerprint}, "
            f"this one is {embedder.fingerprint}); pass the same --model/--adapter as for the build"
        )
    query = embedder.encode([Item(text=args.text, image=args.image, instruction=args.instruction)])
    for rank, hit in enumerate(index.search(query, args.top_k, nprobe=args.nprobe, ef_search=args.ef_search)[0], 1):
        record = index.records[hit.index]
        label = record["id"] if record["id"] is not None else f"row {hit.index}"
        shown = record["item"].get("text") or record["item"].get("image")
        print(f"{rank:>3}  {hit.score:.4f}  {label}  {shown}")
    return 0
