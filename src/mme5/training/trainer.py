"""The HF `Trainer` as every `mme5 train` task runs it: its loop, scheduler, clipping, DDP,
DeepSpeed, checkpoint/resume and logging are kept; the sampler (the batch plan, served in order),
the save format and adapter resume are ours (`RunTrainer`). The embedder's step is
`ContrastiveTrainer`'s; the reranker's is in rerank.py."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import SequentialSampler
from transformers import Trainer, TrainerCallback

from ..provenance import provenance, write_json
from .gradcache import contrastive_step
from .losses import world
from .model import TrainedModule, load_adapter, save_weights

CONFIG_FILE = "train_config.yaml"
LOG_FILE = "train_log.jsonl"
log = logging.getLogger(__name__)


class RunTrainer(Trainer):
    """`Trainer` over a planned `MicroBatches` dataset whose model is a `TrainedModule`."""

    def __init__(self, *args: Any, run_config: dict, examples_per_step: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.run_config = run_config
        self.examples_per_step = examples_per_step
        self._last_log: tuple[float, int] | None = None

    @property
    def trained(self) -> TrainedModule:
        """The task's module (unwrapped: DDP/DeepSpeed hold it as `model_wrapped`)."""
        assert isinstance(self.model, TrainedModule)
        return self.model

    def train(self, *args: Any, **kwargs: Any):
        with _wrapped_peft_recognised():
            return super().train(*args, **kwargs)

    def save_model(self, *args: Any, **kwargs: Any) -> None:
        with _wrapped_peft_recognised():
            super().save_model(*args, **kwargs)

    # the batch plan already shuffled, deduplicated and sharded the data: serve it in order
    def summed_over_ranks(self, count: int) -> int:
        """A per-process count summed over the ranks (collective: every rank calls it)."""
        return int(self.accelerator.reduce(torch.tensor(count, device=self.args.device), reduction="sum"))

    def _get_train_sampler(self, train_dataset=None):
        return SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        now, step = time.perf_counter(), self.state.global_step
        if "loss" in logs and self._last_log is not None and step > self._last_log[1]:
            logs["examples_per_second"] = round(
                (step - self._last_log[1]) * self.examples_per_step / (now - self._last_log[0]), 3
            )
        self._last_log = (now, step)
        super().log(logs, start_time)

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """Adapter (or weights) + processor + the resolved config; no pickled training arguments.

        Only the writer rank writes: under DeepSpeed every rank calls this after the (collective)
        state-dict gather, and two ranks writing one folder race each other."""
        if not self.args.should_save:
            return
        out = Path(output_dir or str(self.args.output_dir))
        model = self.accelerator.unwrap_model(self.model)
        assert isinstance(model, TrainedModule)
        save_weights(model, out, state_dict)
        write_config(out, self.run_config)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: torch.nn.Module | None = None) -> None:
        model = self.accelerator.unwrap_model(model or self.model)
        if (
            isinstance(model, TrainedModule) and model.is_peft
        ):  # a full fine-tune was already built from the checkpoint folder (see `run.setup`)
            load_adapter(model, resume_from_checkpoint)


class ContrastiveTrainer(RunTrainer):
    """The embedder's step: `contrastive_step` (plain or GradCache) over one planned micro-batch."""

    def __init__(self, *args: Any, loss_fn, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loss_fn = loss_fn
        self.replaced_examples = 0
        """examples this process's collator replaced for an unreadable image (data.on_bad_image=skip)."""

    def training_step(self, model: torch.nn.Module, inputs: dict[str, Any], num_items_in_batch=None) -> torch.Tensor:
        for line in inputs.get("replaced", ()):  # collated in a worker: logged and counted here
            log.warning("unreadable image, example replaced (data.on_bad_image=skip): %s", line)
        self.replaced_examples += len(inputs.get("replaced", ()))
        model.train()
        _, world_size = world()
        accumulation = self.current_gradient_accumulation_steps
        deepspeed = self.is_deepspeed_enabled

        def backward(loss: torch.Tensor, last: bool) -> None:
            if deepspeed:  # the engine steps itself at a boundary: only after the last chunk
                sync = last and self.accelerator.sync_gradients
                self.accelerator.deepspeed_engine_wrapped.backward(loss, sync_gradients=sync, scale_wrt_gas=False)
            else:
                self.accelerator.backward(loss)

        no_sync = (
            contextlib.nullcontext
            if deepspeed or world_size == 1
            else functools.partial(self.accelerator.no_sync, model)
        )
        # x world size: every rank holds the full global loss, data-parallel averaging divides by it
        loss = contrastive_step(
            model,
            inputs["chunks"],
            loss_fn=self.loss_fn,
            backward=backward,
            no_sync=no_sync,
            scale=world_size / accumulation,
            device=self.args.device,
        )
        return loss / accumulation  # the trainer sums micro-batch losses for its log

    def replaced_examples_total(self) -> int:
        """`replaced_examples` summed over the ranks (collective: every rank calls it)."""
        return self.summed_over_ranks(self.replaced_examples)


@contextlib.contextmanager
def _wrapped_peft_recognised():
    """HF's PEFT handling keys on `isinstance(model, PeftModel)`, and our model wraps the PeftModel.
    While this is open it is recognised too, so DeepSpeed checkpoints hold the adapter and its
    optimizer state rather than a copy of the frozen base (22 GB for the 11B backbone) and resuming
    loads them non-strictly."""
    import transformers.trainer as hf

    hf_is_peft = hf._is_peft_model

    def is_peft(model: Any) -> bool:
        return hf_is_peft(model) or (isinstance(model, TrainedModule) and model.is_peft)

    hf._is_peft_model = is_peft
    try:
        yield
    finally:
        hf._is_peft_model = hf_is_peft


def write_config(out: Path, run_config: dict) -> None:
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (CONFIG_FILE + ".tmp")
    tmp.write_text(yaml.safe_dump(run_config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    tmp.replace(out / CONFIG_FILE)
    write_json(out / "provenance.json", provenance(run_config))


class JsonlLogger(TrainerCallback):
    """Append every trainer log (loss, learning_rate, grad_norm, examples_per_second) as one JSON line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_train_begin(self, args, state, control, **kwargs):
        """Keep only the lines up to the step the run starts from: resuming, an interrupted run may
        have logged past its last checkpoint (those steps run, and are logged, again; a line cut
        short by the interruption goes too); a fresh run starts a fresh log."""
        if state.is_world_process_zero and self.path.is_file():
            lines = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
            kept = [line for line in lines if line.endswith("\n") and _step(line) <= state.global_step]
            if len(kept) < len(lines):
                self.path.write_text("".join(kept), encoding="utf-8")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"step": state.global_step, "time": round(time.time(), 3), **logs}) + "\n")


def _step(line: str) -> float:
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return float("inf")
