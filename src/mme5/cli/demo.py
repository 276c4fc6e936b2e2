"""The original mmE5 demo: an image+question query against text candidates, and a text query
against images, printed as similarity tables."""
from __future__ import annotations

NAME = "demo"
HELP = "run the original demo.py comparisons"


def register(p) -> None:
    p.add_argument("--model", help="model folder or hub id (default: the embedded tiny Mllama, random weights)")
    p.add_argument("--adapter", help="LoRA adapter folder, merged at load time")


def _table(title: str, rows: list[str], cols: list[str], scores) -> str:
    width = max(len(r) for r in rows) + 2
    lines = [title, " " * width + "".join(f"{c:>12}" for c in cols)]
    for r, row in zip(rows, scores):
        lines.append(f"{r:<{width}}" + "".join(f"{s:12.4f}" for s in row))
    return "\n".join(lines)


def run(args) -> int:
    from importlib import resources

    from ..inference.loading import load_embedder
    from ..types import Item

    assets = resources.files("mme5").joinpath("assets")
    cat, dog = str(assets / "cat.png"), str(assets / "dog.png")
    embedder = load_embedder(args.model, adapter=args.adapter)
    if args.model is None:
        print("model: embedded tiny Mllama with RANDOM weights (scores are not meaningful; pass --model)")

    # 1) image + question -> text answers (as in demo.py)
    query = Item(image=cat, text="What is in the image", instruction="Represent the given image with the following question:")
    answers = ["A cat", "A dog"]
    q = embedder.encode([query])
    a = embedder.encode([Item(text=t) for t in answers])
    print(_table("image+question -> text (cosine)", ["cat.png + 'What is in the image'"], answers, q @ a.T))

    # 2) text -> images
    query = Item(text="A cat and a dog.", instruction="Find me an everyday image that matches the given caption:")
    images = [Item(image=p, instruction="Represent the given image.") for p in (cat, dog)]
    q = embedder.encode([query])
    d = embedder.encode(images)
    print()
    print(_table("text -> image (cosine)", ["'A cat and a dog.'"], ["cat.png", "dog.png"], q @ d.T))
    return 0
