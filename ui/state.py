"""Session-state keys shared by every page: the selected model and the dataset choice.

The canonical values live under ``bl.*`` keys that no widget owns, so they survive page
switches (Streamlit drops the state of widgets that a page does not render). Widgets in
``ui.widgets`` initialise themselves from these values and write them back.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import streamlit as st

MODEL_KEY = "bl.model_ref"
DATASET_KEY = "bl.dataset_choice"
RESET_WIDGETS_KEY = "bl.reset_widgets"

DEFAULT_MODEL = "demo:bbc-finetuned"
FALLBACK_MODEL = "bundled:minilm"  # used while the demo workspace is not built
DEFAULT_DATASET = "bundled:bbc"
DEFAULT_N = 500


@dataclass(frozen=True)
class DatasetChoice:
    """Everything needed to load a dataset: a reference plus reading options and the sample.

    ``n`` is the sample size (None = all examples); columns left None are guessed by ``core``.
    """

    ref: str = DEFAULT_DATASET
    text_column: str | None = None
    text_pair_column: str | None = None
    label_column: str | None = None
    encoding: str = "utf-8"
    n: int | None = DEFAULT_N
    seed: int = 0
    label_names: tuple[str, ...] | None = None

    @property
    def is_bundled(self) -> bool:
        return self.ref.startswith("bundled:")

    def load_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``core.data.load_dataset`` (without ``n``/``seed``)."""
        return {"text_column": self.text_column, "text_pair_column": self.text_pair_column,
                "label_column": self.label_column, "label_names": self.label_names, "encoding": self.encoding}

    def full(self) -> "DatasetChoice":
        """The same dataset without sampling."""
        return replace(self, n=None)

    def label(self) -> str:
        """Short human-readable description, e.g. ``bundled:bbc (n = 500, seed 0)``."""
        size = "all examples" if self.n is None else f"n = {self.n}"
        return f"{self.ref} ({size}, seed {self.seed})"


def _default_model() -> str:
    from core.demo import demo_ready

    return DEFAULT_MODEL if demo_ready() else FALLBACK_MODEL


def current_model_ref() -> str:
    """The selected model reference ('' when the user has not entered one yet)."""
    if MODEL_KEY not in st.session_state:
        st.session_state[MODEL_KEY] = _default_model()
    return str(st.session_state[MODEL_KEY])


def set_model_ref(ref: str, *, reset_widgets: bool = False) -> None:
    """Select ``ref``; ``reset_widgets`` makes the model picker re-read it on the next run."""
    st.session_state[MODEL_KEY] = ref.strip()
    if reset_widgets:
        st.session_state[RESET_WIDGETS_KEY] = True


def current_dataset_choice() -> DatasetChoice:
    """The selected dataset (bundled BBC News, 500 examples, by default)."""
    if DATASET_KEY not in st.session_state:
        st.session_state[DATASET_KEY] = DatasetChoice()
    return st.session_state[DATASET_KEY]


def set_dataset_choice(choice: DatasetChoice) -> None:
    st.session_state[DATASET_KEY] = choice


def pop_widget_reset() -> bool:
    """True once after ``set_model_ref(..., reset_widgets=True)``."""
    return bool(st.session_state.pop(RESET_WIDGETS_KEY, False))
