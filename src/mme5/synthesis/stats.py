"""Run statistics, rebuilt from the committed shards so they stay exact across restarts."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def reason_code(reason: str) -> str:
    return reason.split(":", 1)[0].strip()


@dataclass
class Stats:
    requested: int = 0
    accepted: int = 0
    failed: int = 0
    by_task: Counter = field(default_factory=Counter)
    by_modality: Counter = field(default_factory=Counter)
    by_language: Counter = field(default_factory=Counter)
    rejections: Counter = field(default_factory=Counter)
    """Final reason of each failed sample."""
    rejected_attempts: Counter = field(default_factory=Counter)
    """Every rejected generation, including those a later attempt replaced."""
    repairs: Counter = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    retries: int = 0
    """Transport-level retries (429 / 5xx / timeouts)."""

    def add(self, row: dict[str, Any], failed: bool) -> None:
        """Fold one committed row (a kept sample or a failure record) into the totals."""
        self.prompt_tokens += int(row.get("prompt_tokens") or 0)
        self.completion_tokens += int(row.get("completion_tokens") or 0)
        self.cost_usd += float(row.get("cost_usd") or 0.0)
        self.retries += int(row.get("retries") or 0)
        errors = row.get("attempt_errors") or "[]"
        for reason in json.loads(errors) if isinstance(errors, str) else errors:
            self.rejected_attempts[reason_code(reason)] += 1
        if failed:
            self.failed += 1
            self.rejections[reason_code(row["reason"])] += 1
            return
        self.accepted += 1
        self.by_task[row["task"]] += 1
        self.by_modality[row["modality"]] += 1
        self.by_language[row["language"]] += 1
        for repair in json.loads(row.get("repairs") or "[]"):
            self.repairs[repair] += 1

    def to_dict(self) -> dict[str, Any]:
        attempted = self.accepted + self.failed
        return {
            "requested": self.requested,
            "accepted": self.accepted,
            "failed": self.failed,
            "acceptance_rate": round(self.accepted / attempted, 4) if attempted else None,
            "by_task": dict(self.by_task.most_common()),
            "by_modality": dict(self.by_modality.most_common()),
            "by_language": dict(self.by_language.most_common()),
            "rejections": dict(self.rejections.most_common()),
            "rejected_attempts": dict(self.rejected_attempts.most_common()),
            "repairs": dict(self.repairs.most_common()),
            "tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
            "cost_usd": round(self.cost_usd, 6),
            "transport_retries": self.retries,
        }


def render(stats: dict[str, Any]) -> str:
    """A short human-readable summary for the end of `mme5 synthesize`."""
    lines = [
        f"accepted {stats['accepted']} / requested {stats['requested']}, failed {stats['failed']}",
        f"tokens: prompt {stats['tokens']['prompt']:,}, completion {stats['tokens']['completion']:,}; "
        f"cost ${stats['cost_usd']:.4f}; transport retries {stats['transport_retries']}",
    ]
    for key in ("by_task", "by_modality", "rejections", "rejected_attempts"):
        if stats[key]:
            lines.append(f"{key}: " + ", ".join(f"{k}={v}" for k, v in stats[key].items()))
    if stats["by_language"]:
        top = list(stats["by_language"].items())
        lines.append(
            f"by_language ({len(top)}): "
            + ", ".join(f"{k}={v}" for k, v in top[:12])
            + (" ..." if len(top) > 12 else "")
        )
    return "\n".join(lines)
