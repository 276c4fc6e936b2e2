"""Reply validation: safe repairs only, rejections with reasons, content rules, near-duplicates."""
from __future__ import annotations

import json

import pytest

from mme5.synthesis.langcheck import LanguageChecker
from mme5.synthesis.schema import json_schema, output_model
from fixtures.stub_server import fill_schema
from mme5.synthesis.validate import Rejection, check_content, duplicate_key, normalise, parse_reply, text_key


def reply(modality: str = "IT2T", **revised: str) -> dict:
    """A schema-valid reply (generated from the schema itself), revised texts overridden."""
    data = fill_schema(json_schema(modality), serial=1)
    data["revised"].update(revised)
    return data


@pytest.fixture(scope="module")
def checker():
    return LanguageChecker()


def test_schema_per_modality_has_only_the_needed_parts():
    for modality, images, texts in [
        ("I2T", {"query_image"}, {"instruction", "positive_text", "negative_text"}),
        ("T2I", {"positive_image", "negative_image"}, {"instruction", "query_text"}),
        ("I2I", {"query_image", "positive_image", "negative_image"}, {"instruction"}),
        ("IT2IT", {"query_image", "positive_image", "negative_image"},
         {"instruction", "query_text", "positive_text", "negative_text"}),
    ]:
        schema = json_schema(modality)
        assert list(schema["properties"]) == ["descriptions", "draft", "self_evaluation", "improvements", "revised"]
        defs = schema["$defs"]
        assert set(defs[f"Descriptions_{modality}"]["required"]) == images
        assert set(defs[f"Sample_{modality}"]["required"]) == texts
        assert defs["Score"]["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]
    capped = json.dumps(json_schema("I2T", max_string_chars=7))
    assert '"maxLength": 7' in capped and '"maxLength"' not in json.dumps(json_schema("I2T"))


@pytest.mark.parametrize("wrap, repairs", [
    (lambda s: s, []),
    (lambda s: f"```json\n{s}\n```", ["markdown_fence"]),
    (lambda s: f"Here is the sample:\n{s}\nHope it helps!", ["surrounding_text"]),
    (lambda s: s.replace('"}}', '",}}', 1), ["trailing_comma"]),
])
def test_safe_repairs(wrap, repairs):
    text = json.dumps(reply())
    parsed = parse_reply(wrap(text), "IT2T")
    assert parsed.repairs == repairs
    assert parsed.reply.model_dump() == output_model("IT2T").model_validate(reply()).model_dump()


@pytest.mark.parametrize("text, code, detail", [
    ("", "empty_reply", ""),
    ('{"descriptions": {"query_image": {"general": "a"', "invalid_json", "line 1"),
    ("[1, 2]", "invalid_json", "expected an object"),
    (json.dumps({**reply(), "revised": {"instruction": "x"}}), "schema", "revised.query_text"),
    (json.dumps({**reply(), "self_evaluation": {"relevance": {"score": 9, "reason": "r"}}}), "schema",
     "self_evaluation"),
    (json.dumps({**reply(), "improvements": []}), "schema", "improvements"),
])
def test_rejections_name_the_problem(text, code, detail):
    with pytest.raises(Rejection) as info:
        parse_reply(text, "IT2T")
    assert info.value.code == code
    assert detail in str(info.value)


def test_content_rules(checker):
    def check(language="de", **texts):
        revised = parse_reply(json.dumps(reply(**texts)), "IT2T").reply.revised
        check_content(revised, "IT2T", language, checker)

    good = dict(instruction="Answer the question about the picture.", query_text="Welche Farbe hat das Auto?",
                positive_text="Das Auto ist rot.", negative_text="Das Auto ist blau.")
    check(**good)
    cases = [
        (dict(good, positive_text="   "), "empty_text"),
        (dict(good, negative_text="das AUTO ist rot!"), "negative_equals_positive"),
        (dict(good, instruction="Beantworte die Frage zu dem Bild mit einem Wort."), "instruction_not_english"),
        (dict(good, query_text="What colour is the car?", positive_text="The car is red.",
              negative_text="The car is blue."), "wrong_language"),
    ]
    for texts, code in cases:
        with pytest.raises(Rejection) as info:
            check(**texts)
        assert info.value.code == code
    japanese = dict(good, query_text="車は何色ですか？", positive_text="赤い車です。", negative_text="青い車です。")
    check(language="ja", **japanese)
    revised = parse_reply(json.dumps(reply(**good)), "IT2T").reply.revised
    check_content(revised, "IT2T", "ja", None)  # language checks off: only structural rules


def test_near_duplicate_key():
    a = parse_reply(json.dumps(reply(query_text="Was ist das?")), "IT2T").reply.revised
    b = parse_reply(json.dumps(reply(query_text="  was IST das ? ")), "IT2T").reply.revised
    c = parse_reply(json.dumps(reply(query_text="Was ist dort?")), "IT2T").reply.revised
    images = {"query_image": "a.png"}
    assert duplicate_key(a, images) == duplicate_key(b, images)
    assert duplicate_key(a, images) != duplicate_key(c, images)
    assert duplicate_key(a, images) != duplicate_key(a, {"query_image": "b.png"})
    assert normalise("Ｃａｆé,  DU   thé!") == "café du thé"
    # the same query (text + query image) and positive text, whatever the target images, negative, instruction
    d = parse_reply(json.dumps(reply(query_text="WAS ist das", negative_text="x", instruction="Other.")), "IT2T")
    assert text_key(a, images) == text_key(d.reply.revised, {**images, "positive_image": "p.png"}) != text_key(c, images)
    assert text_key(a, images) != text_key(a, {"query_image": "b.png"})  # same question, another image
    assert text_key(parse_reply(json.dumps(reply("I2T")), "I2T").reply.revised, images) is None  # no query text
