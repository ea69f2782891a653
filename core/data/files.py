"""The user's own files: CSV/TSV/JSONL/JSON/Parquet tables and ``datasets.save_to_disk`` folders, with
column guessing and label encoding.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence
from core.foundation.errors import DatasetError
from core.data.datasets import TextDataset, _make
from core.data.labels import encode_labels


def _read_table(path: Path, encoding: str):
    import pandas as pd

    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    try:
        if suffix in (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".tab"):
            sep = "," if suffix.startswith(".csv") else "\t"
            df = pd.read_csv(path, sep=sep, encoding=encoding, dtype=object, keep_default_na=False)
            _check_header(path, sep, encoding)
            return df
        if suffix in (".jsonl", ".ndjson", ".jsonl.gz"):
            return pd.read_json(path, lines=True, encoding=encoding, dtype=False)
        if suffix == ".json":
            try:
                return pd.read_json(path, encoding=encoding, dtype=False)
            except ValueError:
                return pd.read_json(path, lines=True, encoding=encoding, dtype=False)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except DatasetError:
        raise
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


def _check_header(path: Path, sep: str, encoding: str) -> None:
    """Refuse a table whose header names a column twice (pandas would rename the second one silently)."""
    import csv
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding=encoding, newline="") as f:  # type: ignore[operator]
        header = next(csv.reader(f, delimiter=sep), [])
    seen: dict[str, int] = {}
    for i, name in enumerate(header, 1):
        if name in seen:
            raise DatasetError(f"{path.name} has two columns named '{name}' (columns {seen[name]} and {i}); rename "
                               "one so the columns can be told apart.")
        seen[name] = i


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
    notes: list[str] = []
    names: list[str] = list(label_names) if label_names else []
    if lcol is not None:
        raw = df[lcol].tolist()
        if hf_labels and hf_labels[0] == lcol and not names:
            names = list(hf_labels[1])
        labels, names, label_notes = encode_labels(raw, names, column=str(lcol), source=p.name)
        notes.extend(label_notes)
    texts = [texts[i] for i in keep]
    pairs = None if pairs is None else [pairs[i] for i in keep]
    labels = None if labels is None else labels[keep]
    return _make(str(p), texts, labels, names, pairs, description=f"{p.name} ({len(texts)} rows)", notes=notes)
