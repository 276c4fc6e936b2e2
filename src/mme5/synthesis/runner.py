"""A synthesis run: pool -> neighbours -> plan -> one-pass prompt -> backend -> validation -> shards.

At most `num_samples - accepted` samples are in flight, so a run never keeps more than it was
asked for; a sample whose generations all fail is recorded in `failed/` with its reasons and
the next plan index takes its place. Kill it at any point and start it again: it ends with
exactly `num_samples` kept samples, each plan index kept or failed once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import signal
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..config import diff_configs, to_dict
from ..provenance import provenance, write_json
from ..types import InputError
from .backends import Backend, BackendError, make_backend
from .config import SynthesisConfig
from .feed import ResolvedSample, SampleFeed
from .langcheck import LanguageChecker
from .neighbours import ImageEncoder, NeighbourIndex, embed_pool, make_encoder
from .plan import MODALITIES, Planner, plan_fingerprint
from .pool import ImagePool, build_pool
from .prompts import build_prompt
from .rows import failure_row, sample_row
from .schema import SCHEMA_VERSION
from .validate import Rejection, check_content, duplicate_key, parse_reply, text_key
from .writer import ShardWriter

log = logging.getLogger(__name__)
PLAN_SECTIONS = ("seed", "plan", "pool", "neighbours")
SEED_STRIDE = 31
"""Request seeds are seed * 1_000_003 + plan_index * 31 + attempt: distinct per (sample, attempt)."""


class SynthesisStopped(RuntimeError):
    """The run cannot make progress (almost every sample fails); committed work is kept."""


class Synthesizer:
    """Prepare once (`prepare`), then `run()`; `backend` / `encoder` override the configured ones."""

    def __init__(
        self,
        config: SynthesisConfig,
        *,
        backend: Backend | None = None,
        encoder: ImageEncoder | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config
        self.out = Path(config.output.dir)
        self.backend = backend
        self.encoder = encoder
        self.progress = progress
        self._pool: ImagePool | None = None
        self.index: NeighbourIndex | None = None

    @property
    def pool(self) -> ImagePool:
        """The image pool, built by `prepare`."""
        if self._pool is None:
            raise RuntimeError("Synthesizer.prepare() has not run")
        return self._pool

    # ---- preparation -----------------------------------------------------------------
    def prepare(self) -> None:
        """Build the pool and the neighbour index, check the run folder, recover its state."""
        cfg = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        self._pool = build_pool(cfg.pool, self.out)
        pos, neg = cfg.neighbours.positive_ranks, cfg.neighbours.negative_ranks
        ranks = ((pos[0], pos[1]), (neg[0], neg[1]))
        probe = Planner(cfg.plan, seed=cfg.seed, pool_size=len(self.pool))
        shares = probe.expected_shares()["modality"]
        encoder_id = ""
        if any(MODALITIES[m].target_image for m, p in shares.items() if p > 0):
            encoder = self.encoder or make_encoder(cfg.neighbours)
            vectors = embed_pool(self.pool, encoder, self.out / "pool")
            if len(self.pool) <= ranks[1][1]:
                raise InputError(
                    f"the pool has {len(self.pool)} distinct images; neighbours.negative_ranks "
                    f"{list(ranks[1])} needs more than {ranks[1][1]}"
                )
            self.index = NeighbourIndex(vectors, cfg.neighbours.max_similarity)
            encoder_id = encoder.fingerprint()
        neighbours = (encoder_id, cfg.neighbours.max_similarity) if self.index else (encoder_id,)
        fingerprint = plan_fingerprint(cfg.plan, cfg.seed, self.pool.fingerprint(), ranks, *neighbours)
        self.planner = Planner(
            cfg.plan,
            seed=cfg.seed,
            pool_size=len(self.pool),
            positive_ranks=ranks[0],
            negative_ranks=ranks[1],
            fingerprint=fingerprint,
        )
        self._write_manifest(fingerprint, encoder_id)
        self.writer = ShardWriter(
            self.out,
            format=cfg.output.format,
            shard_size=cfg.output.shard_size,
            commit_every_s=cfg.output.commit_every_s,
        )
        self.recovered = self.writer.recover()
        self.writer.committed.requested = cfg.num_samples
        v = cfg.validation
        self.checker = (
            LanguageChecker(v.language_top_k, v.min_letters, v.language_min_ratio) if v.check_language else None
        )

    def _write_manifest(self, fingerprint: str, encoder_id: str) -> None:
        path = self.out / "manifest.json"
        config = to_dict(self.config)
        created = None
        if path.is_file():
            old = json.loads(path.read_text(encoding="utf-8"))
            if old.get("fingerprint") != fingerprint:
                before = {k: old["config"].get(k) for k in PLAN_SECTIONS}
                changed = diff_configs(before, {k: config[k] for k in PLAN_SECTIONS}) or ["the pool's images"]
                raise InputError(
                    f"{self.out} holds a run with another plan (changed: {', '.join(changed)}); "
                    "restore those settings to resume, or choose a new output.dir"
                )
            created = old.get("created")
        record = provenance(
            config,
            fingerprint=fingerprint,
            schema_version=SCHEMA_VERSION,
            image_root=str(self.pool.root),
            pool_images=len(self.pool),
            pool_duplicates_dropped=self.pool.duplicates,
            neighbour_encoder=encoder_id,
        )
        record["created"] = created or record["created"]
        record["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json(path, record)

    # ---- the run ---------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        return asyncio.run(self.run_async())

    async def run_async(self) -> dict[str, Any]:
        if self._pool is None:
            self.prepare()
        cfg = self.config
        stats = self.writer.committed
        target, accepted = cfg.num_samples, stats.accepted
        if accepted > target:
            raise InputError(f"{self.out} already holds {accepted} samples, more than num_samples={target}")
        if accepted == target:  # already complete: load no model
            return self._write_stats()
        own_backend = self.backend is None
        backend = self.backend or make_backend(cfg.backend)
        self.dedup = set(self.recovered.dedup_keys)
        attempted, limit = accepted + stats.failed, int(cfg.output.max_attempted_factor * target) + 100
        feed = SampleFeed(self.planner, self.index, self.recovered.done)
        in_flight: set[asyncio.Task] = set()
        self._started = time.monotonic()
        from tqdm.auto import tqdm

        bar = tqdm(total=target, initial=accepted, unit="sample", desc="synthesize", disable=not self.progress)
        stop_on_sigterm(asyncio.current_task())
        try:
            while accepted < target:
                while len(in_flight) < backend.concurrency and accepted + len(in_flight) < target and attempted < limit:
                    in_flight.add(asyncio.create_task(self._make(await feed.next(), backend)))
                    attempted += 1
                if not in_flight:
                    failed = stats.failed + len(self.writer.failures)
                    raise SynthesisStopped(
                        f"gave up after {attempted} tried samples, {failed} failed: "
                        f"see {self.out / 'failed'} and stats.json"
                    )
                finished, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                fatal = None
                for task in finished:
                    try:
                        row, ok = task.result()
                    except Exception as exc:  # a fatal BackendError (bad key, unknown model, ...) or a bug:
                        fatal = fatal or exc  # stop, once every finished task's outcome was read
                        continue
                    self.writer.add(row, failed=not ok)
                    accepted += ok
                    bar.update(int(ok))
                bar.set_postfix(failed=stats.failed + len(self.writer.failures), refresh=False)
                if fatal is not None:
                    raise fatal
                if self.writer.maybe_commit():
                    self._write_stats()
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            self.writer.commit()
            result = self._write_stats()
            bar.close()
            if own_backend:
                await backend.aclose()
            stop_on_sigterm(None)
        return result

    async def _make(self, sample: ResolvedSample, backend: Backend) -> tuple[dict[str, Any], bool]:
        """Generate, validate and (on failure) retry one sample -> (row, kept?)."""
        cfg, plan, pool = self.config, sample.plan, self.pool
        paths = {role: pool.images[i].path for role, i in sample.images.items()}
        relative = {role: pool.relative(i) for role, i in sample.images.items()}
        prompt = build_prompt(plan.task, plan.modality, plan.language, paths, version=cfg.prompt_version)
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "retries": 0}
        errors: list[str] = []
        for attempt in range(cfg.validation.max_attempts):
            try:
                seed = (cfg.seed * 1_000_003 + plan.index * SEED_STRIDE + attempt) % 2**31
                gen = await backend.generate(prompt, seed=seed)
            except BackendError as exc:
                if exc.fatal:
                    raise
                usage["retries"] += exc.retries
                errors.append(str(exc)[:300])
                continue
            except (InputError, OSError) as exc:  # an image vanished or broke after the pool was built
                errors.append(f"bad_image: {exc}"[:300])
                continue
            usage["prompt_tokens"] += gen.prompt_tokens
            usage["completion_tokens"] += gen.completion_tokens
            usage["retries"] += gen.retries
            try:
                parsed = parse_reply(gen.text, plan.modality)
                check_content(parsed.reply.revised, plan.modality, plan.language, self.checker)
                key = hashlib.sha1(duplicate_key(parsed.reply.revised, relative).encode()).hexdigest()
                texts = text_key(parsed.reply.revised, relative)
                texts = hashlib.sha1(texts.encode()).hexdigest() if texts else ""
                if cfg.validation.near_duplicates and key in self.dedup:
                    raise Rejection("near_duplicate", "same images and normalised texts as a kept sample")
                if cfg.validation.near_duplicates and texts in self.dedup:
                    raise Rejection("near_duplicate", "same normalised query and positive texts as a kept sample")
            except Rejection as exc:
                if gen.finish_reason == "length" and exc.code in ("empty_reply", "invalid_json", "schema"):
                    exc = Rejection("truncated", f"reply hit the token limit ({exc})")
                errors.append(str(exc)[:300])
                continue
            self.dedup.update(k for k in (key, texts) if k)
            return sample_row(
                plan,
                relative,
                parsed.reply,
                usage=self._usage(usage, attempt + 1, errors, backend),
                backend=backend.name,
                model=backend.model,
                prompt_version=cfg.prompt_version,
                repairs=parsed.repairs,
                dedup_key=key,
                text_key=texts,
            ), True
        usage = self._usage(usage, cfg.validation.max_attempts, errors, backend)
        return failure_row(plan, errors[-1], usage=usage, backend=backend.name, model=backend.model), False

    @staticmethod
    def _usage(usage: dict[str, int], attempts: int, errors: list[str], backend: Backend) -> dict[str, Any]:
        cost = backend.cost(usage["prompt_tokens"], usage["completion_tokens"])
        return {
            **usage,
            "cost_usd": cost,
            "attempts": attempts,
            "attempt_errors": json.dumps(errors, ensure_ascii=False),
        }

    def _write_stats(self) -> dict[str, Any]:
        stats = self.writer.committed.to_dict()
        elapsed = time.monotonic() - getattr(self, "_started", time.monotonic())
        stats["session"] = {"elapsed_s": round(elapsed, 2)}
        stats["image_root"] = str(self.pool.root)
        write_json(self.out / "stats.json", stats)
        return stats


def stop_on_sigterm(task: asyncio.Task | None) -> None:
    """SIGTERM (a scheduler's stop) cancels the run like Ctrl-C, so finished samples are
    committed before exiting; None restores the default. A no-op where signals are unsupported."""
    loop = asyncio.get_running_loop()
    try:
        if task is None:
            loop.remove_signal_handler(signal.SIGTERM)
        else:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
        pass
