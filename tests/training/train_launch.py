"""Run by torchrun (gloo, CPU) from the distributed training tests: `train` with a config given
as `key=value` overrides only. Leaves without the interpreter's teardown, where gloo's threads can
abort (SIGABRT) after every output is written (see ddp_worker.py). Usage: train_launch.py KEY=VALUE..."""
import os
import sys

import torch

from mme5.config import load_config
from mme5.training.config import TrainConfig
from mme5.training.run import train

torch.set_num_threads(1)
train(load_config(TrainConfig, None, sys.argv[1:]))
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
