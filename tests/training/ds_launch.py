"""`mme5` entry point for the DeepSpeed tests under torchrun. Training code is unchanged; two CPU
test-bench measures:
- DeepSpeed would JIT-compile its shared-memory CPU collective (minutes on a cold machine); with no
  compatible ops registered it uses its documented fallback, torch.distributed over gloo.
- Under ZeRO-3 on gloo a rank occasionally aborts in interpreter shutdown ("terminate called
  without an active exception"), after training, checkpoints and the final adapter are written and
  the process group is destroyed. The launcher exits without that teardown; the tests check
  everything the run wrote."""
import os
import sys

import deepspeed.ops

deepspeed.ops.__compatible_ops__ = {}

from mme5.cli.main import main  # noqa: E402

code = main(sys.argv[1:])
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
