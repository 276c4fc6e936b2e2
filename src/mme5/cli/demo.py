"""The original mmE5 demo: an image+question query against text candidates, and a text query
against images, printed as similarity tables."""

from __future__ import annotations

from .options import add_model_args, embedder_from_args

NAME = "demo"
HELP = "run the original demo.py comparisons"


def register(p) -> None:
    add_model_args(p)


def _table(title: str, rows: list[str], cols: list[str], scores) -> str:
    width = max(len(r) for r in rows) + 2
    lines = [title, " " * width + "".join(f"{c:>12}" for c in cols)]
    for r, row in zip(rows, scores):
        lines.append(f"{r:<{width}}" + "".join(f"{s:12.4f}" for s in row))
    return "\n".join(lines)


def run(args) -> int:
    from importlib import resources

    from ..prompts import FIND_IMAGE_FOR_CAPTION, REPRESENT_IMAGE, REPRESENT_IMAGE_WITH_QUESTION
    from ..types import Item

    assets = resources.files("mme5").joinpath("assets")
    cat, dog = str(assets / "cat.png"), str(assets / "dog.png")
    embedder = embedder_from_args(args)
    if args.model is None:
        print("model: embedded tiny Mllama with RANDOM weights (scores are not meaningful; pass --model)")

    # 1) image + question -> text answers (as in demo.py)
    query = Item(image=cat, text="What is in the image", instruction=REPRESENT_IMAGE_WITH_QUESTION)
    answers = ["A cat", "A dog"]
    q = embedder.encode([query], batch_size=args.batch_size)
    a = embedder.encode([Item(text=t) for t in answers], batch_size=args.batch_size)
    print(_table("image+question -> text (cosine)", ["cat.png + 'What is in the image'"], answers, q @ a.T))

    # 2) text -> images
    query = Item(text="A cat and a dog.", instruction=FIND_IMAGE_FOR_CAPTION)
    images = [Item(image=p, instruction=REPRESENT_IMAGE) for p in (cat, dog)]
    q = embedder.encode([query], batch_size=args.batch_size)
    d = embedder.encode(images, batch_size=args.batch_size)
    print()
    print(_table("text -> image (cosine)", ["'A cat and a dog.'"], ["cat.png", "dog.png"], q @ d.T))
    return 0
