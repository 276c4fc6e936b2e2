"""The Qwen-VL processors mme5 loads: the stock classes without their video processor.

Without torchvision the stock classes cannot be built (they require a video processor), and
`AutoProcessor` can silently return only the tokenizer; these classes always carry the image
processor. `ProcessorMixin.get_attributes` reads the `__init__` signature, so the video slot
disappears; `video_processor = None` still lets `videos=` reach `_process_videos`, which runs the
family's torchvision-free video path (`video_inputs`: frames -> tensors + one placeholder string
per video). Imported only when a Qwen-VL model is loaded (it imports transformers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from transformers import Qwen2_5_VLProcessor, Qwen2VLProcessor, Qwen3VLProcessor

from .. import video, video_qwen3

VideoInputs = Callable[[Any, list], tuple[dict[str, torch.Tensor], list[str]]]


class _ImageOnly:
    """Mixin: the parent processor built from an image processor and a tokenizer only."""

    video_processor = None
    video_inputs: staticmethod  # the family's (processor, videos) -> (tensors, placeholders)

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    def _process_videos(self, videos, **kwargs):  # kwargs: do_resize, video_metadata (Qwen3-VL)
        return type(self).video_inputs(self, [list(v) for v in videos], **kwargs)


class Qwen2VLProcessorImageOnly(_ImageOnly, Qwen2VLProcessor):
    video_inputs = staticmethod(video.process_videos)


class Qwen2_5_VLProcessorImageOnly(_ImageOnly, Qwen2_5_VLProcessor):
    video_inputs = staticmethod(video.process_videos)


class Qwen3VLProcessorImageOnly(_ImageOnly, Qwen3VLProcessor):
    video_inputs = staticmethod(video_qwen3.process_videos)
