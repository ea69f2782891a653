"""Spec parsing and validation: every error names the file, line, field and what was expected."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.foundation.errors import SpecError
from reports.spec import DatasetSpec, load_spec, parse_spec

pytestmark = pytest.mark.report

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
title: Quarterly audit
author: Ada
model: demo:bbc-finetuned
dataset: bundled:bbc
sample_size: 120
sections:
  - kind: overview
    normalize: false
"""


def _err(text: str) -> str:
    with pytest.raises(SpecError) as ei:
        parse_spec(text, source="spec.yaml")
    return str(ei.value)


def test_good_spec_parses_with_defaults():
    spec = parse_spec(GOOD, source="spec.yaml")
    assert spec.title == "Quarterly audit" and spec.author == "Ada" and spec.audience is None
    assert spec.model == "demo:bbc-finetuned"
    assert spec.dataset == DatasetSpec(ref="bundled:bbc")
    assert spec.sample_size == 120 and spec.seed == 0
    assert len(spec.sections) == 1
    s = spec.sections[0]
    assert s.kind == "overview" and s.params["normalize"] is False
    assert s.params["show_length_chart"] is True  # default filled in
    assert s.line == 7


def test_demo_spec_file_is_valid():
    spec = load_spec(ROOT / "reports" / "specs" / "demo-overview.yaml")
    assert spec.model == "demo:bbc-finetuned" and spec.dataset.ref == "bundled:bbc"
    assert [s.kind for s in spec.sections] == ["overview"]
    assert spec.source and spec.source.endswith("demo-overview.yaml")


def test_round_trip_through_yaml():
    spec = parse_spec(GOOD, source="spec.yaml")
    again = parse_spec(spec.to_yaml(), source="again.yaml")
    assert again.to_dict() == spec.to_dict()


def test_typo_in_section_kind_names_line_field_and_suggestion():
    msg = _err(GOOD.replace("kind: overview", "kind: overveiw"))
    assert msg.startswith("spec.yaml line 7: sections[0].kind: unknown section kind 'overveiw'")
    assert "expected one of: overview" in msg
    assert "did you mean 'overview'?" in msg


def test_missing_title():
    msg = _err(GOOD.replace("title: Quarterly audit\n", ""))
    assert msg.startswith("spec.yaml line 1: title: missing")
    assert "expected a non-empty text" in msg


def test_wrong_type_for_sample_size():
    msg = _err(GOOD.replace("sample_size: 120", "sample_size: lots"))
    assert msg.startswith("spec.yaml line 5: sample_size:")
    assert "expected a whole number ≥ 1" in msg and "'lots'" in msg
    assert "line 5: sample_size" in _err(GOOD.replace("sample_size: 120", "sample_size: 0"))
    assert "line 5: sample_size" in _err(GOOD.replace("sample_size: 120", "sample_size: true"))


def test_unknown_top_level_key_suggests_the_right_one():
    msg = _err(GOOD.replace("author: Ada", "autor: Ada"))
    assert msg.startswith("spec.yaml line 2: autor: unknown key")
    assert "did you mean 'author'?" in msg
    msg = _err(GOOD + "colour: blue\n")
    assert msg.startswith("spec.yaml line 9: colour: unknown key; expected one of: title, author")


def test_section_params_are_validated():
    msg = _err(GOOD.replace("normalize: false", "normalize: maybe"))
    assert msg.startswith("spec.yaml line 8: sections[0].normalize: expected true or false, got 'maybe'")
    msg = _err(GOOD.replace("normalize: false", "normalise: false"))
    assert "line 8: sections[0].normalise: unknown parameter of section kind 'overview'" in msg
    assert "did you mean 'normalize'?" in msg


def test_sections_must_be_a_non_empty_list():
    assert "line 6: sections: expected a non-empty list" in _err(GOOD.split("sections:")[0] + "sections: []\n")
    assert "sections[0].kind: missing" in _err(GOOD.replace("  - kind: overview\n", "  - title: Intro\n"))


def test_dataset_mapping_form_and_its_errors():
    text = GOOD.replace("dataset: bundled:bbc", "dataset:\n  ref: data.csv\n  text_column: body\n"
                        "  label_column: topic\n  encoding: latin-1")
    spec = parse_spec(text, source="spec.yaml")
    assert spec.dataset == DatasetSpec(ref="data.csv", text_column="body", label_column="topic", encoding="latin-1")
    msg = _err(text.replace("text_column", "text_colum"))
    assert "line 6: dataset.text_colum: unknown key" in msg and "did you mean 'text_column'?" in msg
    assert "dataset.encoding: unknown text encoding 'klingon'" in _err(text.replace("latin-1", "klingon"))
    assert "dataset.ref: missing" in _err(text.replace("  ref: data.csv\n", ""))


def test_yaml_syntax_error_and_duplicates_and_empty():
    msg = _err("title: [unclosed\nmodel: x\n")
    assert msg.startswith("spec.yaml line") and "not valid YAML" in msg
    msg = _err(GOOD + "title: again\n")
    assert msg.startswith("spec.yaml line 9: title: duplicate key (first given on line 1)")
    assert "the spec is empty" in _err("")
    assert "expected a mapping" in _err("- just\n- a list\n")


def test_load_spec_missing_file(tmp_path):
    with pytest.raises(SpecError, match="Spec file not found"):
        load_spec(tmp_path / "nope.yaml")


def test_relative_dataset_path_resolves_against_spec_folder(tmp_path):
    (tmp_path / "data.csv").write_text("text,label\nhello,tech\n")
    f = tmp_path / "spec.yaml"
    f.write_text(GOOD.replace("bundled:bbc", "data.csv"))
    spec = load_spec(f)
    assert spec.dataset.ref == str((tmp_path / "data.csv").resolve())
