"""The user's own files: CSV/TSV/JSONL/JSON/Parquet tables and ``datasets.save_to_disk`` folders, with
column guessing and label encoding.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence
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


@dataclass(frozen=True)
class _Table:
    """One file's columns before the labels are encoded."""

    path: Path
    texts: list[str]
    pairs: list[str] | None
    raw_labels: list | None
    label_column: str | None
    hf_names: list[str] | None
    keep: list[int]


def _read_columns(p: Path, *, text_column: str | None, text_pair_column: str | None, label_column: str | None,
                  encoding: str) -> _Table:
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
    hf_names = list(hf_labels[1]) if hf_labels and hf_labels[0] == lcol else None
    return _Table(p, texts, pairs, None if lcol is None else df[lcol].tolist(), None if lcol is None else str(lcol),
                  hf_names, keep)


def load_file(
    path: str | Path,
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    label_names: Sequence[str] | None = None,
    label_map: Mapping[Any, Any] | str | None = None,
    encoding: str = "utf-8",
) -> TextDataset:
    """Read a labelled table from a file or a ``save_to_disk`` folder (``label_map``: value → name, see
    :mod:`core.data.labels`)."""
    return load_files([path], text_column=text_column, text_pair_column=text_pair_column, label_column=label_column,
                      label_names=label_names, label_map=label_map, encoding=encoding)[0]


def load_files(
    paths: Sequence[str | Path],
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    label_names: Sequence[str] | None = None,
    label_map: Mapping[Any, Any] | str | None = None,
    encoding: str = "utf-8",
) -> list[TextDataset]:
    """Several tables with the same columns (a training file and its validation and test files), their labels
    encoded *together*: one reading of the ids (0- or 1-based, the sorted names) for all files, so that a label
    id means the same class in every one of them. A file without the label column is an error when another has
    it; a pair column must be in all or none."""
    tables = [_read_columns(Path(p).expanduser(), text_column=text_column, text_pair_column=text_pair_column,
                            label_column=label_column, encoding=encoding) for p in paths]
    for what, has in (("label", lambda t: t.raw_labels is not None), ("second text", lambda t: t.pairs is not None)):
        with_it = [t.path.name for t in tables if has(t)]
        if with_it and len(with_it) < len(tables):
            without = [t.path.name for t in tables if not has(t)]
            raise DatasetError(f"{', '.join(with_it)} {'has' if len(with_it) == 1 else 'have'} a {what} column but "
                               f"{', '.join(without)} {'has' if len(without) == 1 else 'have'} none; the files must "
                               "have the same columns.")
    names: list[str] = list(label_names) if label_names else []
    ids_all, notes = None, []
    labelled = [t for t in tables if t.raw_labels is not None]
    if labelled:
        raw = [v for t in labelled for v in t.raw_labels]  # type: ignore[union-attr]
        if not names and not label_map and labelled[0].hf_names:
            names = list(labelled[0].hf_names)
        source = " + ".join(t.path.name for t in labelled)
        ids_all, names, notes = encode_labels(raw, names, column=str(labelled[0].label_column), source=source,
                                              label_map=label_map)
    out, start = [], 0
    for t in tables:
        labels = None
        if ids_all is not None:
            labels = ids_all[start:start + len(t.texts)][t.keep]
            start += len(t.texts)
        texts = [t.texts[i] for i in t.keep]
        pairs = None if t.pairs is None else [t.pairs[i] for i in t.keep]
        out.append(_make(str(t.path), texts, labels, names, pairs, description=f"{t.path.name} ({len(texts)} rows)",
                         notes=notes))
    return out
