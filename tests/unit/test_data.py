
import numpy as np
import pandas as pd
import pytest

from core.data.datasets import dataset_stats
from core.data.refs import load_dataset
from core.data.sampling import sample, split_assignment, take_split
from core.foundation.errors import DatasetError


@pytest.fixture()
def csv_file(tmp_path):
    p = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"text number {i}" for i in range(50)],
                  "label": ["pos" if i % 3 else "neg" for i in range(50)]}).to_csv(p, index=False)
    return p


def test_csv_labels_sorted_names(csv_file):
    ds = load_dataset(str(csv_file))
    assert len(ds) == 50 and ds.label_names == ("neg", "pos")
    assert ds.labels[0] == 0 and ds.labels[1] == 1


@pytest.mark.parametrize("fmt", ["tsv", "jsonl", "parquet"])
def test_other_formats(tmp_path, fmt):
    df = pd.DataFrame({"sentence1": ["a b", "c d", "e f"], "sentence2": ["x", "y", "z"], "gold": [0, 1, 1]})
    p = tmp_path / f"d.{fmt}"
    if fmt == "tsv":
        df.to_csv(p, sep="\t", index=False)
    elif fmt == "jsonl":
        df.to_json(p, orient="records", lines=True)
    else:
        df.to_parquet(p)
    ds = load_dataset(str(p), label_column="gold", label_names=["no", "yes"])
    assert ds.is_pair and ds.text_pairs == ("x", "y", "z")
    assert ds.label_names == ("no", "yes") and list(ds.labels) == [0, 1, 1]


def test_hf_save_to_disk(tmp_path):
    import datasets

    d = datasets.Dataset.from_dict({"text": ["good", "bad", "fine"], "label": [1, 0, 1]},
                                   features=datasets.Features({"text": datasets.Value("string"),
                                                               "label": datasets.ClassLabel(names=["neg", "pos"])}))
    d.save_to_disk(str(tmp_path / "hf"))
    ds = load_dataset(str(tmp_path / "hf"))
    assert ds.label_names == ("neg", "pos") and list(ds.labels) == [1, 0, 1]


def test_sampling_is_deterministic(csv_file):
    a = load_dataset(str(csv_file), n=10, seed=3)
    b = load_dataset(str(csv_file), n=10, seed=3)
    c = load_dataset(str(csv_file), n=10, seed=4)
    assert a.texts == b.texts and a.texts != c.texts and len(a) == 10
    assert list(a.indices) == sorted(a.indices)


def test_hash_split_is_stable_under_sampling(csv_file):
    ds = load_dataset(str(csv_file))
    full = split_assignment(ds)
    sub = sample(ds, 20, seed=1)
    np.testing.assert_array_equal(split_assignment(sub), full[sub.indices])
    parts = [take_split(ds, s) for s in ("train", "validation", "test")]
    assert sum(len(p) for p in parts) == len(ds)
    assert not set(parts[0].texts) & set(parts[2].texts)


def test_stats(csv_file):
    st = dataset_stats(load_dataset(str(csv_file)))
    assert st.n == 50 and sum(st.label_counts) == 50 and st.length_summary["min"] == 3


@pytest.mark.parametrize("make,kw,msg", [
    (lambda p: None, {}, "not found"),
    (lambda p: p.write_text("text,label\n"), {}, "no rows"),
    (lambda p: p.write_text("body,label\nhello,a\n"), {"text_column": "txt"}, "Column 'txt' is not in"),
    (lambda p: p.write_text("body,label\nhello,a\n"), {}, "No text column"),
    (lambda p: p.write_bytes("text,label\ncaf\xe9,a\n".encode("latin-1")), {}, "not valid utf-8"),
    (lambda p: p.write_text("text,label\nhello,a\nhi,b\n"), {"label_names": ["a"]}, "not among the label names"),
])
def test_bad_input_one_clear_message(tmp_path, make, kw, msg):
    p = tmp_path / "bad.csv"
    make(p)
    with pytest.raises(DatasetError, match=msg):
        load_dataset(str(p), **kw)


def test_latin1_with_encoding(tmp_path):
    p = tmp_path / "l1.csv"
    p.write_bytes("text,label\ncaf\xe9,a\n".encode("latin-1"))
    assert load_dataset(str(p), encoding="latin-1").texts == ("café",)


def test_unknown_bundled_and_split(csv_file):
    with pytest.raises(DatasetError, match="choose one of"):
        load_dataset("bundled:agnews")
    with pytest.raises(DatasetError, match="Unknown split"):
        load_dataset(str(csv_file), split="dev")


@pytest.mark.integration
@pytest.mark.parametrize("ref,n,labels", [("bundled:bbc", 2225, 5), ("bundled:tweets", 38158, 3)])
def test_bundled_real(ref, n, labels):
    ds = load_dataset(ref)
    assert len(ds) == n and len(ds.label_names) == labels
    assert all(t.strip() for t in ds.texts[:100])


@pytest.mark.integration
def test_bundled_snli_pairs():
    ds = load_dataset("bundled:snli", n=50)
    assert ds.is_pair and ds.label_names == ("entailment", "neutral", "contradiction")
