"""The build context every section kind receives: the spec, the model and dataset (each loaded once), and
results sections share through the build's memo. It knows nothing of the section kinds.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

from core.foundation.errors import BackboneLensError
from core.foundation.progress import Progress
from reports.spec_data import ReportSpec

LIBRARIES = ("torch", "transformers", "tokenizers", "safetensors", "numpy", "pandas", "altair",
             "vl-convert-python", "jinja2", "weasyprint", "pyyaml")


class ReportContext:
    """What sections share: the spec, the model and dataset (each loaded once), cached results."""

    def __init__(self, spec: ReportSpec, *, progress: Progress | None = None, allowed_paths: Sequence[str] = (),
                 any_path: bool = False) -> None:
        self.spec = spec
        self.progress = progress
        self.allowed_paths = tuple(str(x) for x in allowed_paths)  # the path policy of the build (reports.paths)
        self.any_path = any_path
        self.timings: dict[str, float] = {}
        self._memo: dict[str, Any] = {}

    def _once(self, key: str, fn: Callable[[], Any]) -> Any:
        if key not in self._memo:
            t0 = time.perf_counter()
            self._memo[key] = fn()
            self.timings[key] = round(time.perf_counter() - t0, 3)
        return self._memo[key]

    def say(self, step: str, frac: float, msg: str) -> None:
        if self.progress is not None:
            self.progress(step, frac, msg)

    # ------------------------------------------------------------------ inputs
    def open_model(self, ref: str, local: str | None = None):
        """Load model ``ref`` (from ``local``, its path as the build reads it, when given) as every section sees it:
        with the decoding head fitted earlier for its encoder, if any, attached *now* — a section that attached
        it later would change the model's fingerprint between the overview and the provenance."""
        from core.models.refs import load_model
        from core.models.storage import attach_fitted_mlm_head

        self.say("load", 0.0, f"loading model {ref}")
        m = load_model(local or ref)
        attach_fitted_mlm_head(m)
        return m

    @property
    def model(self):
        """The :class:`core.models.loading.LoadedModel` of ``spec.model`` (with the head of ``spec.mlm`` as its
        decoding head when the spec names one)."""
        def load():
            m = self.open_model(self.spec.model)
            if self.spec.mlm:
                from core.models.refs import attach_lm_head

                self.say("load", 0.5, f"reading the decoding head of {self.spec.mlm}")
                attach_lm_head(m, self.spec.mlm)
            return m
        return self._once("load_model", load)

    def model_name(self, ref: str | None = None) -> str:
        """What the report calls a model: its name in the spec's ``models`` (``ref`` may be that name or its
        reference), else a short form of the reference (a folder's last one or two parts; schemes and hub ids
        as written). None: the report's own model."""
        return display_name(self.spec.model if ref is None else ref, self.spec.models,
                            self.spec.model_name if ref is None else None)

    @property
    def full_dataset(self):
        """The whole dataset (before sampling); evaluation picks its split from it."""
        def load():
            from core.data.refs import load_dataset

            self.say("load", 0.5, f"loading dataset {self.spec.dataset.ref}")
            return load_dataset(self.spec.dataset.ref, **self.spec.dataset.load_kwargs())
        return self._once("load_dataset", load)

    @property
    def dataset(self):
        """The examined sample: ``sample_size`` examples drawn with ``seed`` (all when unset)."""
        def pick():
            from core.data.sampling import sample

            full = self.full_dataset
            return full if self.spec.sample_size is None else sample(full, self.spec.sample_size, seed=self.spec.seed)
        return self._once("sample_dataset", pick)

    # ------------------------------------------------------------------ shared results
    def stats(self):
        from core.data.datasets import dataset_stats

        return self._once("dataset_stats", lambda: dataset_stats(self.dataset))

    def evaluation(self):
        """:class:`core.models.evaluate.EvaluationResult` (held-out test split if trained on this dataset)."""
        def run():
            from core.models.evaluate import evaluate
            from core.models.heldout import heldout_sample

            sample = heldout_sample(self.model, self.full_dataset, self.spec.sample_size, seed=self.spec.seed)
            return evaluate(self.model, sample, progress=self.progress)
        return self._once("evaluation", run)

    def model_facts(self) -> dict[str, Any]:
        def facts():
            from core.models.heldout import trained_on

            m = self.model
            d = dict(m.describe())
            d["name"] = self.model_name()
            meta = m.metadata or {}
            d["training"] = {k: meta[k] for k in ("base_model", "dataset", "data_fingerprint", "n_train",
                                                  "n_validation", "demo_profile", "validation_file", "test_file",
                                                  "init_head", "data_notes") if k in meta}
            parts = (meta.get("split") or {}).get("parts")
            if isinstance(parts, dict):
                d["training"]["splits"] = {s: p.get("description") for s, p in parts.items() if isinstance(p, dict)}
            if isinstance(meta.get("training"), dict):
                d["training"]["params"] = {k: v for k, v in meta["training"].items()
                                           if isinstance(v, (int, float, str, bool)) or v is None}
                threads, budget = meta["training"].get("threads"), meta["training"].get("budget")
                if isinstance(threads, dict):
                    d["training"]["threads"] = threads.get("line")
                if isinstance(budget, dict):
                    d["training"]["budget"] = budget
            d["heldout"] = meta.get("heldout")
            d["trained_on_dataset"] = trained_on(m, self.full_dataset)
            return d
        return self._once("model_facts", facts)

    def dataset_facts(self) -> dict[str, Any]:
        def facts():
            full, ds = self.full_dataset, self.dataset
            out = {"ref": self.spec.dataset.ref, "name": ds.name, "description": ds.description,
                   "n_total": len(full), "sample_size": self.spec.sample_size, "seed": self.spec.seed,
                   "fingerprint": ds.fingerprint, "source_fingerprint": ds.source_fingerprint,
                   "label_names": list(ds.label_names), "notes": list(ds.notes), "truncated_share": None}
            if self.spec.sample_size is not None and self.spec.sample_size > len(full):
                out["notes"].append(f"sample_size {self.spec.sample_size:,} is more than the {len(full):,} texts of "
                                    "the dataset; all of them were used.")
            try:
                m = self.model
                enc = m.tokenizer(list(ds.texts), list(ds.text_pairs) if ds.text_pairs else None,
                                  truncation=False, add_special_tokens=True)
                lens = np.array([len(x) for x in enc["input_ids"]])
                out["truncated_share"] = float((lens > m.max_length).mean()) if len(lens) else 0.0
                out["tokens_median"] = float(np.median(lens)) if len(lens) else 0.0
            except BackboneLensError:
                raise
            except Exception:  # noqa: BLE001 - an odd tokenizer only loses this one statistic
                pass
            return out
        return self._once("dataset_facts", facts)


def display_name(ref: str, names: dict[str, str], own: str | None = None) -> str:
    """``ref`` (a model reference or a name of ``names``, the spec's name → reference) as reports print it: ``own``
    or its name in ``names``, else the reference shortened (``/home/me/models/tweets/finetuned`` →
    ``tweets/finetuned``; ``demo:…``, ``user:…`` and hub ids unchanged)."""
    from pathlib import PurePath

    if own:
        return own
    if ref in names:
        return ref
    for name, r in names.items():
        if r == ref and name != "model":
            return name
    if ":" in ref.split("/")[0] or not (ref.startswith((".", "/", "~")) or "\\" in ref or PurePath(ref).is_absolute()):
        return ref
    parts = PurePath(ref).parts
    tail = [p for p in parts if p not in ("/", "\\")][-2:]
    if len(tail) == 2 and tail[1] not in ("pretrained", "finetuned"):
        tail = tail[1:]
    return "/".join(tail) or ref
