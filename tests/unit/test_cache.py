import json

import numpy as np
import pytest

from core.foundation.cache import ArrayCache, fingerprint


def test_fingerprint_is_order_independent_and_sensitive():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_roundtrip_and_hit(tmp_path):
    c = ArrayCache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(6, dtype=np.float32).reshape(2, 3)}, {"n": 2}

    e1 = c.get_or_compute("k", {"p": 1}, compute)
    e2 = c.get_or_compute("k", {"p": 1}, compute)
    assert not e1.hit and e2.hit and len(calls) == 1
    np.testing.assert_array_equal(e2.arrays["x"], np.arange(6).reshape(2, 3))
    assert e2.meta["n"] == 2
    c.get_or_compute("k", {"p": 2}, compute)
    assert len(calls) == 2
    assert {e.kind for e in c.entries()} == {"k"} and len(c.entries()) == 2


def test_corrupt_entry_is_recomputed_not_trusted(tmp_path):
    c = ArrayCache(tmp_path)
    c.get_or_compute("k", {"p": 1}, lambda: ({"x": np.ones(3)}, {}))
    npz = next(tmp_path.glob("k/*.npz"))
    data = bytearray(npz.read_bytes())
    data[-10] ^= 0xFF
    npz.write_bytes(bytes(data))
    e = c.get_or_compute("k", {"p": 1}, lambda: ({"x": np.zeros(3)}, {}))
    assert not e.hit
    np.testing.assert_array_equal(e.arrays["x"], np.zeros(3))
    assert c.load("k", e.key).hit


def test_stale_format_is_recomputed(tmp_path):
    c = ArrayCache(tmp_path)
    e = c.get_or_compute("k", {"p": 1}, lambda: ({"x": np.ones(3)}, {}))
    man = tmp_path / "k" / f"{e.key}.json"
    m = json.loads(man.read_text())
    m["format"] = -1
    man.write_text(json.dumps(m))
    assert c.load("k", e.key) is None
    assert not man.exists()


def test_failed_compute_leaves_old_entries(tmp_path):
    c = ArrayCache(tmp_path)
    c.get_or_compute("k", {"p": 1}, lambda: ({"x": np.ones(3)}, {}))

    def boom():
        raise RuntimeError("fail")

    with pytest.raises(RuntimeError):
        c.get_or_compute("k", {"p": 2}, boom)
    assert len(c.entries()) == 1
    assert not list(tmp_path.glob("k/*.tmp"))
