"""`mme5` entry point for the DeepSpeed test under torchrun. DeepSpeed would otherwise JIT-compile its
shared-memory CPU collective (minutes on a cold machine); with no compatible ops registered it
uses its documented fallback, torch.distributed over gloo. Training code is unchanged."""
import sys

import deepspeed.ops

deepspeed.ops.__compatible_ops__ = {}

from mme5.cli.main import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
