"""Run by torchrun (gloo, CPU) from test_distributed.py: one contrastive step under DDP on this
rank's slice of a batch, plain and with GradCache; rank 0 writes the loss and the all-reduced
gradients. Usage: ddp_worker.py MODEL_DIR ADAPTER_DIR DATA_JSONL OUT_DIR"""
import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file
from torch.nn.parallel import DistributedDataParallel

from mme5.data.collate import ContrastiveCollator
from mme5.data.sources import load_examples
from mme5.training.config import LoraSettings, ModelConfig
from mme5.training.gradcache import contrastive_step
from mme5.training.model import build_model, load_adapter


def main(model_dir: str, adapter_dir: str, data: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    model = build_model(ModelConfig(name_or_path=model_dir, max_length=64, lora=LoraSettings(dropout=0.0)))
    load_adapter(model, adapter_dir)
    ddp = DistributedDataParallel(model, find_unused_parameters=True)
    examples = load_examples(data, negative_ratio=2)
    per_rank = len(examples) // world
    mine = list(range(rank * per_rank, (rank + 1) * per_rank))
    results = {}
    for mode, chunk_size in (("plain", None), ("gradcache", 2)):
        collate = ContrastiveCollator(model.embedder, examples, [str(i) for i in range(len(examples))],
                                      negative_ratio=2, chunk_size=chunk_size)
        loss = contrastive_step(ddp, collate([mine])["chunks"], backward=lambda l, last: l.backward(),
                                no_sync=ddp.no_sync, scale=world)
        grads = {n: p.grad.detach().clone() for n, p in model.trainable_parameters().items()}
        model.zero_grad(set_to_none=True)
        results[mode] = loss.item()
        if rank == 0:
            save_file(grads, str(Path(out_dir) / f"{mode}.safetensors"))
    if rank == 0:
        (Path(out_dir) / "losses.json").write_text(json.dumps(results))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:5])
    # gloo's threads can abort the interpreter's teardown (SIGABRT) after every output is written, as
    # tests/evaluation/test_distributed.py saw: leave without it
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
