"""Build real datasets: `mme5 data build-emoji` renders the emoji <-> CLDR-name pairs from a colour
emoji font and Unicode CLDR; `mme5 data pack-emoji` packs such a folder into the compact form the
quickstart ships."""

from __future__ import annotations

NAME = "data"
HELP = "build datasets (emoji images with CLDR names in ~90 languages)"


def register(p) -> None:
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    b = sub.add_parser(
        "build-emoji",
        help="render emoji + CLDR names into an emoji_cldr folder",
        description="Without --font/--cldr, fetches the Debian packages fonts-noto-color-emoji "
        "and unicode-cldr-core with `apt-get download` and unpacks them (no install).",
    )
    b.add_argument("--out", required=True, help="folder to write (emoji.jsonl, images/, stats.json, xtd_format/)")
    b.add_argument("--font", help="a colour emoji font file (e.g. NotoColorEmoji.ttf)")
    b.add_argument("--cldr", help="CLDR's `common` folder (holding annotations/ and annotationsDerived/)")
    b.add_argument("--size", type=int, default=96, help="image side in pixels (default 96)")
    b.add_argument("--font-size", type=int, default=109, help="render size (NotoColorEmoji's bitmaps are 109 px)")
    b.add_argument("--pack", help="also write a compact pack of the result to this folder")
    k = sub.add_parser("pack-emoji", help="pack an emoji_cldr folder into one PNG sheet + gzipped names")
    k.add_argument("src", help="an emoji_cldr folder (emoji.jsonl + images/)")
    k.add_argument("--out", required=True, help="pack folder to write")
    k.add_argument("--side", type=int, default=56, help="tile side in pixels (default 56: four 28 px Mllama tiles)")
    k.add_argument("--languages", help="comma-separated language codes to keep (default: all)")


def run(args) -> int:
    from ..data.emoji import pack_emoji
    from ..types import InputError

    if args.data_command == "pack-emoji":
        languages = [x.strip() for x in args.languages.split(",") if x.strip()] if args.languages else None
        out = pack_emoji(args.src, args.out, side=args.side, languages=languages)
        print(f"wrote emoji pack to {out}")
        return 0
    from ..data.emoji_build import build_emoji_dataset, build_from_debian

    if bool(args.font) != bool(args.cldr):
        raise InputError("give both --font and --cldr, or neither (then the Debian packages are fetched)")
    if args.font:
        stats = build_emoji_dataset(args.out, args.font, args.cldr, size=args.size, font_size=args.font_size)
    else:
        stats = build_from_debian(args.out, size=args.size)
    print(f"wrote {stats['images']} images with names in {len(stats['languages'])} languages to {args.out}")
    if stats["dropped_identical"]:
        print(
            f"dropped {sum(map(len, stats['dropped_identical']))} emoji in {len(stats['dropped_identical'])} "
            "groups that render to identical pixels"
        )
    if args.pack:
        print(f"wrote emoji pack to {pack_emoji(args.out, args.pack)}")
    return 0
