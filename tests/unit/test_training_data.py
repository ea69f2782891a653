"""Training on the user's files (issue 19): labels read the same way across train/validation/test files, 1-based
ids with and without names, label maps, no empty class, and which texts go where (splits, ``--n`` on all three)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data.files import load_file, load_files
from core.data.labels import encode_labels, parse_label_map
from core.data.sampling import MIN_EVAL_TEXTS, default_eval_sizes, split_assignment, training_splits
from core.foundation.errors import BackboneLensError, DatasetError

TOPICS = {1: "apple", 2: "train", 3: "piano", 4: "goal"}  # 1-based ids, like AG News
FILLER = ["stone", "river", "cloud", "table", "music", "paper", "glass", "field"]


def news_rows(n: int, seed: int, ids=(1, 2, 3, 4)) -> list[tuple[str, int]]:
    """Texts whose topic word gives the label; labels are the 1-based ids ``ids``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        y = ids[i % len(ids)]
        words = list(rng.choice(FILLER, size=int(rng.integers(2, 7))))
        words.insert(int(rng.integers(0, len(words) + 1)), TOPICS[y])
        out.append((" ".join(words) + f" {seed}-{i}", y))
    return out


def mean_pooled(folder: Path, dest: Path) -> Path:
    """A copy of a tiny model folder marked as a sentence-transformers model (mean pooling, like the bundled
    MiniLM): a random encoder's mean state carries the topic word, its CLS state does not."""
    import shutil

    if not dest.exists():
        shutil.copytree(folder, dest)
        (dest / "modules.json").write_text("[]", "utf-8")
    return dest


def write_csv(path: Path, rows, header=("text", "label")) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


# ----------------------------------------------------------------------------- labels


def test_one_based_ids_without_names_make_no_empty_class():
    ids, names, notes = encode_labels([1, 2, 3, 4, 2], [], column="label", source="news.csv")
    assert names == ["1", "2", "3", "4"] and ids.tolist() == [0, 1, 2, 3, 1]
    assert "0" not in names  # no class for a value that never occurs


def test_one_based_ids_with_names_are_read_so_and_said():
    ids, names, notes = encode_labels([1, 2, 3, 4], ["World", "Sports", "Business", "Sci/Tech"], column="label",
                                      source="news.csv")
    assert ids.tolist() == [0, 1, 2, 3] and names[0] == "World"
    assert any("1-based" in n for n in notes)


def test_ids_that_fit_both_readings_say_which_was_taken():
    """A validation file of a 1-based dataset may lack the top id: 1 … K−1 fits 0- and 1-based; the note says how
    to get the other reading."""
    ids, _, notes = encode_labels([1, 2, 3, 1], ["a", "b", "c", "d"], column="label", source="dev.csv")
    assert ids.tolist() == [1, 2, 3, 1]
    assert any("0-based" in n and "label map (1=a,2=b" in n for n in notes)


def test_label_map_names_every_value():
    ids, names, notes = encode_labels(["1", 2.0, " 3 ", None, 4], [], column="label", source="news.csv",
                                      label_map="1=World, 2=Sports,3=Business,4=Sci/Tech")
    assert names == ["World", "Sports", "Business", "Sci/Tech"] and ids.tolist() == [0, 1, 2, -1, 3]
    assert any("label map" in n for n in notes)
    assert parse_label_map({1: "a", "x": "b"}) == {1: "a", "x": "b"}


@pytest.mark.parametrize("lmap,raw,names,needle", [
    ("1=a,2=b", [1, 2, 5, 6], [], "does not name: 5, 6"),
    ("1=a,b", [1], [], "VALUE=NAME pairs"),
    ("1=a,1=b", [1], [], "twice"),
    ("1=a,2=", [1], [], "needs both"),
    ("1=a,2=b", [1, 2], ["a", "b"], "either label names or a label map"),
])
def test_bad_label_maps_are_one_sentence(lmap, raw, names, needle):
    with pytest.raises(DatasetError, match=needle):
        encode_labels(raw, names, column="label", source="x.csv", label_map=lmap)


def test_files_are_encoded_together(tmp_path):
    """The validation file has no 'goal' (id 4): alone, its ids 1 … 3 would be read as 0-based; together with the
    training file they are read as the training file reads them."""
    train = write_csv(tmp_path / "train.csv", news_rows(40, 0))
    dev = write_csv(tmp_path / "dev.csv", news_rows(12, 1, ids=(1, 2, 3)))
    alone = load_file(dev, label_names=list(TOPICS.values()))
    assert alone.label_names[alone.labels[0]] == "train"  # id 1 read as 0-based: the wrong class
    tr, dv = load_files([train, dev], label_names=list(TOPICS.values()))
    assert tr.label_names == dv.label_names == tuple(TOPICS.values())
    assert dv.label_names[dv.labels[0]] == "apple" and "apple" in dv.texts[0]
    assert all(dv.label_names[y] in t for t, y in zip(dv.texts, dv.labels))
    assert any("1-based" in n for n in tr.notes)


def test_files_must_share_columns(tmp_path):
    a = write_csv(tmp_path / "a.csv", news_rows(10, 0))
    b = write_csv(tmp_path / "b.csv", [(t,) for t, _ in news_rows(10, 1)], header=("text",))
    with pytest.raises(DatasetError, match="a.csv has a label column but b.csv has none"):
        load_files([a, b])


# ----------------------------------------------------------------------------- splits


@pytest.fixture(scope="module")
def news(tmp_path_factory):
    d = tmp_path_factory.mktemp("news")
    paths = {k: write_csv(d / f"{k}.csv", news_rows(n, s)) for k, n, s in (("train", 700, 0), ("dev", 150, 1),
                                                                           ("test", 260, 2))}
    tr, dv, te = load_files([paths["train"], paths["dev"], paths["test"]], label_map="1=W,2=S,3=B,4=T")
    return tr, dv, te


def _texts(ds) -> set[str]:
    return set(ds.texts)


@pytest.mark.parametrize("given", ["none", "validation", "test", "both"])
def test_which_texts_go_where(news, given):
    tr, dv, te = news
    val = dv if given in ("validation", "both") else None
    test = te if given in ("test", "both") else None
    sp = training_splits(tr, val, test, seed=3)
    a = split_assignment(tr, seed=3)
    parts = sp.parts()
    # never a text in two parts, and the parts taken from the training file are its hash parts
    assert not (_texts(parts["train"]) & _texts(parts["validation"]))
    assert not (_texts(parts["train"]) & _texts(parts["test"]))
    expect_train = {"none": {0}, "validation": {0, 1}, "test": {0, 2}, "both": {0, 1, 2}}[given]
    assert set(a[parts["train"].indices].tolist()) == expect_train
    assert len(parts["train"]) == int(np.isin(a, list(expect_train)).sum())  # nothing of the file left unused …
    if val is None:  # … except the test part kept out when there is no test file
        assert set(a[parts["validation"].indices].tolist()) == {1}
    else:
        assert parts["validation"] is dv and sp.origin["validation"] == "file"
    if test is None:
        assert set(a[parts["test"].indices].tolist()) == {2} and sp.heldout_in_train_file
    else:
        assert parts["test"] is te and not sp.heldout_in_train_file
    record = sp.to_json()
    assert record["parts"]["train"]["n"] == len(parts["train"]) and "train.csv" in record["parts"]["train"]["source"]
    assert sp.rows()["train"] == parts["train"].indices.tolist()


def test_n_bounds_all_three_parts(news):
    tr, dv, te = news
    sp = training_splits(tr, dv, te, n=140, seed=0)
    v, t = default_eval_sizes(140)
    assert (len(sp.train), len(sp.validation), len(sp.test)) == (140, v, t) == (140, MIN_EVAL_TEXTS, MIN_EVAL_TEXTS)
    sp = training_splits(tr, dv, te, n=560, seed=0)
    assert (len(sp.validation), len(sp.test)) == (100, 160)  # 560/7 = 80 → at least 100; 2·560/7 = 160
    sp = training_splits(tr, dv, te, n=700, seed=0)
    assert (len(sp.validation), len(sp.test)) == (100, 200)
    assert sp.describe("test") == "200 of 260 texts of test.csv" and sp.describe("train") == "700 texts of train.csv (the whole file)"
    sp = training_splits(tr, None, None, n=70, n_validation=30, n_test=40, seed=0)
    assert (len(sp.train), len(sp.validation), len(sp.test)) == (70, 30, 40)
    assert "the hash split's validation part, 10% of the file" in sp.describe("validation")
    full = training_splits(tr, dv, te)
    assert (len(full.train), len(full.validation), len(full.test)) == (700, 150, 260)


def test_bad_sizes_and_empty_parts(news):
    tr, dv, te = news
    with pytest.raises(DatasetError, match="n_test must be a positive"):
        training_splits(tr, n_test=0)
    tiny = tr.subset(np.arange(2))
    with pytest.raises(DatasetError, match="split of train.csv is empty"):
        training_splits(tiny)


def test_pairs_from_parquet_train_and_validation(tmp_path):
    """A sentence-pair dataset with separate train and validation Parquet files (no test file): the test part of
    the training file is held out, and every part keeps both texts."""
    def frame(n, seed):
        rng = np.random.default_rng(seed)
        rows = [{"premise": f"{' '.join(rng.choice(FILLER, 3))} {seed}-{i}", "hypothesis": f"a {c} thing",
                 "label": ["entailment", "neutral", "contradiction"][k]}
                for i, (k, c) in enumerate((i % 3, ["red", "green", "blue"][i % 3]) for i in range(n))]
        return pd.DataFrame(rows)
    frame(300, 0).to_parquet(tmp_path / "train.parquet")
    frame(60, 1).to_parquet(tmp_path / "validation.parquet")
    tr, va = load_files([tmp_path / "train.parquet", tmp_path / "validation.parquet"])
    assert tr.is_pair and va.is_pair and tr.label_names == ("contradiction", "entailment", "neutral")
    sp = training_splits(tr, va, None, seed=0)
    assert sp.validation is va and sp.test.is_pair and sp.train.is_pair
    assert len(sp.train) + len(sp.test) == 300 and sp.heldout_in_train_file
    assert all(p.startswith("a ") for p in sp.test.text_pairs)


def test_a_class_without_training_texts_is_refused(tmp_path):
    from core.training.user_models import DataFiles, load_training_data, _check_classes

    write_csv(tmp_path / "train.csv", news_rows(60, 0, ids=(1, 2, 3)))
    write_csv(tmp_path / "test.csv", news_rows(20, 1))
    tr, _, te = load_training_data(DataFiles(train=str(tmp_path / "train.csv"), test=str(tmp_path / "test.csv")))
    assert tr.label_names == ("1", "2", "3", "4")  # '4' occurs in the test file only
    with pytest.raises(BackboneLensError, match="'4' has no text among the"):
        _check_classes(training_splits(tr, None, te))
