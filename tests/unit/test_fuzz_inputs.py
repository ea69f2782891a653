"""Fuzzing the two doors hostile input comes through: the report-spec parser and the CLI argument layer.

A bounded, derandomised hypothesis run (so CI sees the same cases every time): whatever the input, the parser
raises only ``SpecError`` (or returns a spec), and the CLI exits 0, 1 or 2 with at most one ``error:`` line, never
a traceback or an ``unexpected`` catch-all.
"""
from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.foundation.errors import SpecError

FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

KEYS = ["title", "model", "dataset", "models", "datasets", "sections", "checks", "seed", "sample_size", "author",
        "authors", "audience", "notes", "kind", "id", "note", "n", "lam", "methods", "layer", "sweep", "ref",
        "text_column", "label_names", "&a", "*a", "<<"]
SCALARS = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                    st.none(), st.text(max_size=30), st.sampled_from(["overview", "projection", "demo:x", "../x.csv",
                                                                     "/etc/passwd", "bundled:bbc", "*a", "&a x"]))
YAMLISH = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.sampled_from(KEYS), inner, max_size=6)), max_leaves=40)


def _to_yaml(value) -> str:
    import yaml

    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False)


@FUZZ
@given(YAMLISH)
def test_spec_parser_structured(value):
    from reports.spec import parse_spec

    try:
        parse_spec(_to_yaml(value), source="fuzz.yaml")
    except SpecError:
        pass


@FUZZ
@given(st.text(alphabet=string.printable + "&*!|>-:[]{}#%@`'\"", max_size=400))
def test_spec_parser_raw_text(text):
    from reports.spec import parse_spec

    try:
        parse_spec(text, source="fuzz.yaml")
    except SpecError:
        pass


@settings(FUZZ, max_examples=25)
@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4), st.integers(1, 9))
def test_spec_parser_alias_towers_stay_bounded(names, fan):
    """Alias chains of any shape: rejected or accepted, always quickly."""
    from reports.spec import parse_spec

    lines = [f"x0: &x0 [{', '.join(['lol'] * fan)}]"]
    for i in range(1, 9):
        lines.append(f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * fan)}]")
    text = "\n".join(lines) + "\ntitle: " + "".join(names) + "\n"
    try:
        parse_spec(text, source="fuzz.yaml")
    except SpecError:
        pass


VERBS = ["evaluate", "embed", "project", "saliency", "faithfulness", "class-tokens", "compare", "attack", "layers",
         "heads", "topics", "attention", "instance", "data", "cache", "methods", "demo", "mlm-head", "train"]
BAD_MODELS = ["/no/such/folder", "demo:nope", "bundled:nope", "", " ", "x#y", "nobody/not-cached-anywhere",
              "demo:bbc-finetuned#task"]
OPTIONS = st.lists(st.one_of(
    st.tuples(st.just("--model"), st.sampled_from(BAD_MODELS)),
    st.tuples(st.just("--dataset"), st.sampled_from(["/no/such.csv", "bundled:nope", "x.xlsx", ""])),
    st.tuples(st.sampled_from(["--n", "--seed", "--layer", "--head", "--k", "--top-k", "--steps", "--max-length"]),
              st.one_of(st.integers(-5, 10**9).map(str), st.text(max_size=5))),
    st.tuples(st.sampled_from(["--lam", "--max-change", "--min-similarity"]),
              st.one_of(st.floats(allow_nan=True).map(str), st.text(max_size=5))),
    st.tuples(st.sampled_from(["--device"]), st.sampled_from(["cpu", "cuda", "cuda:9", "tpu", "", "mps", "meta"])),
    st.tuples(st.sampled_from(["--param", "--method", "--methods", "--attack", "--text", "--target", "--sweep",
                               "--layers", "--label-names", "--encoding"]), st.text(max_size=12)),
), max_size=6)


@FUZZ
@given(st.sampled_from(VERBS), OPTIONS)
def test_cli_argument_layer(capsys, verb, options):
    from cli.main import main

    argv = [verb] + [x for pair in options for x in pair] + ["--quiet"]
    if verb in ("demo", "cache", "data"):
        argv = [verb, "status" if verb == "demo" else "list" if verb == "cache" else "stats"] + argv[1:]
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = int(e.code or 0)
    err = capsys.readouterr().err
    assert rc in (0, 1, 2), (argv, err)
    assert "Traceback" not in err and "unexpected" not in err, (argv, err)
    assert len([ln for ln in err.splitlines() if ln.startswith("error:")]) <= 1, (argv, err)


@pytest.fixture(autouse=True)
def _no_hub(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
