"""Vector indexes over a corpus (JSONL `{text, image, video, pdf, page, instruction, language, id?, meta?}`,
a parquet file with those columns, or a folder of images, videos and PDFs): `mme5 index build` embeds it
into vector shards (one process, or Ray Data with --engine ray; resumable) and an index (faiss flat / IVF /
PQ / HNSW, or a LanceDB table; flat is exact, the others report their measured recall@10);
`mme5 index search` queries one.
`mme5 serve --index DIR` serves it at POST /v1/search. See docs/scale.md."""

from __future__ import annotations

from .options import INDEX_MODEL_DEFAULT, add_media_args, add_model_args, media_policy_from_args

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
    from ..index.ann import FLAT_MAX, KINDS

    sub = p.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="embed a corpus into an index folder (resumes an interrupted build)")
    build.add_argument(
        "--input",
        required=True,
        help="corpus: JSONL, .parquet or a folder of images, videos and PDFs (one record per page); "
        "relative media paths are relative to it",
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
        help="index type; auto (default) picks type and parameters from size, dim and --memory-budget "
        f"(flat, i.e. exact search, for up to {FLAT_MAX:,} items that fit it)",
    )
    build.add_argument(
        "--memory-budget", default="4G", help="most memory the index may take (e.g. 512M, 16G; default: %(default)s)"
    )
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
        help="recall@10 the search setting (nprobe / ef_search) is tuned to reach (default: %(default)s; "
        "flat indexes are exact)",
    )
    build.add_argument("--dim", type=int, help="index the first DIM coordinates (a Matryoshka prefix; compact indexes)")
    build.add_argument(
        "--quantize",
        choices=["none", "int8", "binary"],
        default="none",
        help="binary / int8: a compact index (shortlist in memory, rescored from vectors on disk); see docs/scale.md",
    )
    build.add_argument(
        "--rescore",
        choices=["float", "int8", "none"],
        default="float",
        help="compact indexes: re-rank the shortlist with the full vectors as float32 or int8, memory-mapped",
    )
    build.add_argument(
        "--rescore-factor",
        type=int,
        help="compact indexes: shortlist k x N rows (default: the smallest N reaching --target-recall)",
    )
    build.add_argument("--force-dim", action="store_true", help="accept a --dim the model was not trained for")
    add_media_args(build)
    add_model_args(build)  # --batch-size: items per forward, per model replica with --engine ray
    search = sub.add_parser("search", help="query an index from the command line")
    search.add_argument("index", help="index folder")
    search.add_argument("--text", help="query text")
    search.add_argument("--image", help="query image path")
    search.add_argument(
        "--instruction",
        help="query instruction (default: the one the index records, see index.json `prompts.query`; "
        '--instruction "" for none)',
    )
    search.add_argument("--top-k", type=int, default=5)
    add_knob_args(search)
    add_model_args(search, model_default=INDEX_MODEL_DEFAULT, batches=False)  # one query, one forward


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
        media=media_policy_from_args(args),
        profile=args.profile,
        max_tokens=getattr(args, "max_batch_tokens", None),  # `index search` runs one query: no budget flag
    )


def _build(args) -> int:
    import sys

    from ..config import ConfigError
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
            "media_limit",
            "skip_bad",
            "dim",
            "quantize",
            "rescore",
            "rescore_factor",
        )
    }
    if args.rescore_factor is not None and args.rescore_factor < 1:
        raise ConfigError(f"--rescore-factor must be >= 1, got {args.rescore_factor}")
    if args.dim is not None and args.dim < 1:
        raise ConfigError(f"--dim must be >= 1, got {args.dim}")
    options = IndexOptions(
        kind=args.index,
        memory_budget=parse_bytes(args.memory_budget),
        sink=args.sink,
        target_recall=args.target_recall,
        dim=args.dim,
        quantize=args.quantize,
        rescore=args.rescore,
        rescore_factor=args.rescore_factor,
        model_dirs=tuple(str(p) for p in (args.adapter, args.model) if p),
        force_dim=args.force_dim,
    )
    engine = EngineOptions(
        batch_size=args.batch_size, actors=args.actors, ray_address=args.ray_address, skip_bad=args.skip_bad
    )
    index = build_index(
        _spec(args),
        args.input,
        args.output,
        engine=args.engine,
        engine_options=engine,
        index=options,
        shard_size=args.shard_size,
        config=config,
    )
    built = index.info["index"]
    knob = "".join(f", {k}={v}" for k, v in built["search"].items())
    quality = (
        "exact search"  # a flat index scores every vector: its recall is 1 by construction
        if built["type"] == "flat"
        else f"recall@10 {built['recall_at_10']:.3f} on {built['recall_queries']} held-out queries"
    )
    print(
        f"indexed {len(index)} items (dim {index.dim}) into {args.output}: {built['sink']} {built['type']} "
        f"({built['factory']}{knob}), {quality}, {built['bytes'] / 2**20:.1f} MiB"
    )
    skipped = index.info["engine"].get("skipped", [])
    for bad in skipped:
        print(f"skipped: {bad['reason']}", file=sys.stderr)
    if skipped:
        print(f"{len(skipped)} bad items left out (--skip-bad); index.json lists them under engine.skipped")
    prompts = index.info["prompts"]
    documents = "; ".join(f"{kind}: {text!r}" for kind, text in prompts["document"].items())
    print(
        f"queries get the instruction {prompts['query']!r} (index.json prompts.query; override with --instruction)",
        file=sys.stderr,
    )
    if documents:
        print(f"documents were embedded with {documents}", file=sys.stderr)
    return 0


def load_for_index(index, args):
    """The model a search over `index` needs: the one --model/--adapter name, else the one index.json
    records (its path, adapter, dtype and max length); refused when the fingerprints differ."""
    from ..index.model import how_to_load
    from ..types import InputError

    named = args.model is not None or args.adapter is not None
    embedder = (_spec(args) if named else index.model_spec(device=args.device)).load()
    profile = index.info.get("model", {}).get("profile")
    if profile and profile != embedder.profile:  # the index was embedded with another formatting profile
        from ..model.profiles import set_profile

        embedder = set_profile(embedder, profile)
    if embedder.fingerprint != index.fingerprint:
        fix = how_to_load(index.info.get("model", {})) if named else "rebuild the index (the model's files changed)"
        raise InputError(
            f"{index.path} was built with model fingerprint {index.fingerprint}, the loaded model's is "
            f"{embedder.fingerprint}; {fix}"
        )
    embedder.max_tokens = getattr(args, "max_batch_tokens", None)  # `serve --index`: the server's batches
    return embedder


def _search(args) -> int:
    from ..index.search import RECORDED, VectorIndex, describe_item
    from ..types import InputError, Item

    if not (args.text or args.image or args.instruction):
        raise InputError("give a query: --text, --image and/or --instruction")
    index = VectorIndex.load(args.index)
    embedder = load_for_index(index, args)
    # no --instruction: the query instruction the index records; --instruction "": none
    instruction = RECORDED if args.instruction is None else args.instruction
    query = Item(text=args.text, image=args.image, instruction=args.instruction or None)
    hits = index.search_items(
        embedder, [query], args.top_k, instruction=instruction, nprobe=args.nprobe, ef_search=args.ef_search
    )[0]
    for rank, hit in enumerate(hits, 1):
        record = index.records[hit.index]
        label = record["id"] if record["id"] is not None else f"row {hit.index}"
        print(f"{rank:>3}  {hit.score:.4f}  {label}  {describe_item(record['item'])}")
    return 0
