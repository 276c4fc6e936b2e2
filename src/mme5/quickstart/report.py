"""The quickstart's learning check, printed table and PNG chart, all from the metrics dictionary."""

from __future__ import annotations

from pathlib import Path

SPLIT_TITLES = {
    "a_heldout_pairs": "(a) held-out (image, language) pairs, gallery = all images",
    "b_heldout_images": "(b) held-out images, gallery = the held-out images",
}


def learning_check(trained: dict, untrained: dict, factor: float, min_languages: int) -> dict:
    """Per split, the languages where trained R@10 >= factor x max(chance, untrained) R@10."""
    result: dict = {}
    for split, langs in trained.items():
        passed = [
            lang
            for lang, m in langs.items()
            if m["R@10"] >= factor * max(m["chance_R@10"], untrained[split][lang]["R@10"])
        ]
        result[split] = {"languages_passed": passed, "passed": len(passed) >= min_languages}
    result["passed"] = all(v["passed"] for v in result.values())
    result["rule"] = f"R@10 >= {factor:g} x max(chance, untrained) in >= {min_languages} languages, on every split"
    return result


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def format_table(trained: dict, untrained: dict, check: dict) -> str:
    """One block per split: per-language R@1 / R@10 (%) of chance, untrained and trained models."""
    lines = []
    for split, langs in trained.items():
        first = next(iter(langs.values()))
        passed = set(check[split]["languages_passed"])
        lines.append(f"{SPLIT_TITLES.get(split, split)}: {first['gallery']} images in the gallery")
        lines.append(
            f"{'lang':<6}{'queries':>8} | {'R@1 chance':>10}{'untrained':>10}{'trained':>9} | "
            f"{'R@10 chance':>11}{'untrained':>10}{'trained':>9} | pass"
        )
        sums = {k: 0.0 for k in ("c1", "u1", "t1", "c10", "u10", "t10")}
        for lang, m in langs.items():
            u = untrained[split][lang]
            row = {
                "c1": m["chance_R@1"],
                "u1": u["R@1"],
                "t1": m["R@1"],
                "c10": m["chance_R@10"],
                "u10": u["R@10"],
                "t10": m["R@10"],
            }
            for k, v in row.items():
                sums[k] += v / len(langs)
            lines.append(
                f"{lang:<6}{m['queries']:>8} | {_pct(row['c1']):>10}{_pct(row['u1']):>10}{_pct(row['t1']):>9} | "
                f"{_pct(row['c10']):>11}{_pct(row['u10']):>10}{_pct(row['t10']):>9} | {'yes' if lang in passed else 'no'}"
            )
        lines.append(
            f"{'mean':<6}{'':>8} | {_pct(sums['c1']):>10}{_pct(sums['u1']):>10}{_pct(sums['t1']):>9} | "
            f"{_pct(sums['c10']):>11}{_pct(sums['u10']):>10}{_pct(sums['t10']):>9} | "
            f"{len(passed)}/{len(langs)}"
        )
        lines.append("")
    lines += _views_lines(trained, untrained)
    verdict = "PASSED" if check["passed"] else "FAILED"
    lines.append(f"learning check {verdict}: {check['rule']} (recalls in %, ties count against the positive)")
    return "\n".join(lines)


def _views_lines(trained: dict, untrained: dict) -> list[str]:
    """Mean R@10 over languages of the same vectors at other sizes (evaluation.views), untrained ->
    trained, per split; nothing when the run scored no views."""
    first = next(iter(next(iter(trained.values())).values()))
    names = list(first.get("views", {}))
    if not names:
        return []
    dim = {"16-float": "16 dims", "32-float": "32 dims", "full-binary": "binary", "full-binary+rescore4": "bin+rescore"}
    labels = [dim.get(n, n) for n in names]
    lines = [
        "compact vectors: mean R@10 (%) untrained -> trained, the same vectors as Matryoshka prefixes "
        "(float), sign bits (binary, 1 bit per dim) and binary with the top 40 rescored by the float vectors",
        f"{'split':<8}{'full float':>16}" + "".join(f"{label:>16}" for label in labels),
    ]
    for split in trained:
        cells = [f"{_mean(untrained[split], n):.1f} -> {_mean(trained[split], n):.1f}" for n in (None, *names)]
        lines.append(f"{split[:1] + ')':<8}" + "".join(f"{c:>16}" for c in cells))
    return [*lines, ""]


def _mean(langs: dict, view: str | None) -> float:
    """Mean R@10 (%) over languages: of the full float vectors (None) or of a view."""
    values = [m["R@10"] if view is None else m["views"][view] for m in langs.values()]
    return 100 * sum(values) / len(values)


def write_chart(
    path: Path, trained: dict, untrained: dict, losses: list[float], steps: list[int] | None = None
) -> Path:
    """Bars of R@10 per language (chance / untrained / trained) for each split, plus the loss curve
    (`steps`: the step of each logged loss; default 1, 2, ...)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt
    import numpy as np

    splits = list(trained)
    fig, axes = plt.subplots(1, len(splits) + 1, figsize=(5.5 * (len(splits) + 1), 4))
    for ax, split in zip(axes, splits):
        langs = list(trained[split])
        x = np.arange(len(langs))
        series = [
            ("chance", [trained[split][lg]["chance_R@10"] for lg in langs], "#bbbbbb"),
            ("untrained", [untrained[split][lg]["R@10"] for lg in langs], "#e39b5a"),
            ("trained", [trained[split][lg]["R@10"] for lg in langs], "#3b75af"),
        ]
        for offset, (label, values, color) in zip((-0.27, 0, 0.27), series):
            ax.bar(x + offset, [100 * v for v in values], 0.27, label=label, color=color)
        ax.set_xticks(x, langs)
        ax.set_ylim(0, 1.3 * max(100 * v for _, values, _ in series for v in values) + 1e-9)  # room for the legend
        ax.set_ylabel("Recall@10 (%)")
        ax.set_title(SPLIT_TITLES.get(split, split), fontsize=9)
        ax.legend(fontsize=8, ncols=3, loc="upper center")
    ax = axes[-1]
    ax.plot(steps if steps is not None else np.arange(1, len(losses) + 1), losses, lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("symmetric InfoNCE loss")
    ax.set_title("training loss", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
