"""`--to vllm`: the files `vllm serve --runner pooling` needs, and a chat template whose rendering of
a request is exactly mme5's input string (vLLM itself needs a GPU; benchmarks/vllm_parity.py runs it)."""
from __future__ import annotations

import json

import pytest

from mme5 import prompts
from mme5.types import InputError, Item

CASES = [  # (instruction, text, image?)
    (prompts.FIND_IMAGE_FOR_CAPTION, "a cat", False),
    (None, "a cat", False),
    (prompts.REPRESENT_IMAGE, None, True),
    (prompts.REPRESENT_IMAGE_WITH_QUESTION, "what is in it? 犬", True),
    (None, None, True),
    (None, "caption only, image too", True),
]


def test_vllm_files(exported):
    from mme5.integrations import vllm

    out = exported("qwen2_vl", "vllm").out_dir
    assert json.loads((out / vllm.POOLER_FILE).read_text()) == {"pooling_type": "LAST", "use_activation": True}
    script = (out / vllm.SERVE_FILE).read_text()
    assert "--runner pooling" in script and f"--chat-template ./{vllm.TEMPLATE_FILE}" in script
    assert '"pooling_type": "LAST"' in script and "--override-pooler-config" in script  # legacy flag documented
    request = json.loads((out / vllm.REQUEST_FILE).read_text())
    assert request["messages"][0] == {"role": "system", "content": prompts.FIND_IMAGE_FOR_CAPTION}
    assert json.loads((out / "config.json").read_text())["architectures"] == ["Qwen2VLForConditionalGeneration"]


def test_vllm_template_renders_mme5_format(exported):
    from transformers import AutoTokenizer

    from mme5.integrations import vllm
    from mme5.model.formatting import format_text

    result = exported("qwen2_vl", "vllm")
    template = (result.out_dir / vllm.TEMPLATE_FILE).read_text()
    tokenizer = AutoTokenizer.from_pretrained(result.out_dir)
    for instruction, text, image in CASES:
        messages = vllm.request_messages(instruction, text, "data:image/png;base64,AAAA" if image else None)
        rendered = tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False)
        want = format_text(Item(text=text, instruction=instruction, image="x.png" if image else None), result.profile.spec)
        assert rendered == want, (instruction, text, image)
    # vLLM hands image parts to the template as {"type": "image"} after parsing: same string
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "t"}]}],
                                             chat_template=template, tokenize=False)
    assert rendered == "<|vision_start|><|image_pad|><|vision_end|>\nt"


def test_vllm_refuses_mllama(tiny_dirs, tmp_path):
    from mme5.integrations.export import export

    with pytest.raises(InputError, match="vLLM dropped Mllama"):
        export(tiny_dirs("mllama"), tmp_path / "out", "vllm")
    assert not (tmp_path / "out").exists()  # refused before the merge


def _parity_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "vllm_parity.py"
    spec = importlib.util.spec_from_file_location("vllm_parity", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vllm_parity_script_cpu_smoke(exported, tmp_path, capsys):
    """The GPU script parses its arguments, refuses a non-export folder and builds its requests here."""
    script = _parity_script()
    with pytest.raises(SystemExit):
        script.parse_args([str(tmp_path)])
    assert "missing mme5_embedding.jinja" in capsys.readouterr().err
    out = exported("qwen2_vl", "vllm").out_dir
    assert script.main([str(out), "--dry-run", "--items", "2"]) == 0
    assert "dry run: 6 items ready" in capsys.readouterr().out
    body = script.requests_for(script.make_items(1))[1]
    assert body["messages"][1]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
