"""Session-state keys shared by every page: the selected model and the dataset choice.

The canonical values live under ``bl.*`` keys that no widget owns, so they survive page
switches (Streamlit drops the state of widgets that a page does not render). Widgets in
``ui.widgets`` initialise themselves from these values and write them back.

Besides the selection:

* ``projection_controls()`` – the Projection page's sample size, λ, metric, colouring;
* ``focus_text()`` – one example that a page (e.g. Projection) chose "to open in later
  pages": its text, second text, true / predicted label and the model and dataset it came
  from, as a ``FocusText``. A later page reads it with ``focus_text()`` (None when nothing
  was chosen) and should check ``FocusText.matches(model_ref, choice)`` before assuming it
  belongs to the current selection; ``set_focus_text()`` / ``clear_focus_text()`` write it.
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
        """Keyword arguments of ``core.data.refs.load_dataset`` (without ``n``/``seed``)."""
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
    from core.training.demo_workspace import demo_ready

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


# ----------------------------------------------------------------------------- projection page

PROJECTION_KEY = "bl.projection"


@dataclass(frozen=True)
class ProjectionControls:
    """The Projection page's settings: sample size, λ, unsupervised metric, point colouring and
    whether to keep only the held-out test split (when the model was trained on the dataset)."""

    n: int = 1000
    lam: float = 0.8
    metric: str = "cosine"
    color_by: str = "prediction"
    heldout: bool = False


def projection_controls() -> ProjectionControls:
    """The Projection page's current settings (the defaults until the page has been shown)."""
    return st.session_state.get(PROJECTION_KEY) or ProjectionControls()


def set_projection_controls(controls: ProjectionControls) -> None:
    st.session_state[PROJECTION_KEY] = controls


# ----------------------------------------------------------------------------- focus text

FOCUS_KEY = "bl.focus_text"


@dataclass(frozen=True)
class FocusText:
    """One example chosen on a page for closer study on later pages.

    ``index`` is its position in the full dataset (None when unknown); ``label`` and
    ``prediction`` are label names (None = unlabelled / no prediction); ``source`` says where it
    was chosen, e.g. ``"Projection (λ = 0.8)"``.
    """

    text: str
    model_ref: str
    dataset: DatasetChoice
    text_pair: str | None = None
    index: int | None = None
    label: str | None = None
    prediction: str | None = None
    confidence: float | None = None
    source: str = ""

    def matches(self, model_ref: str, choice: DatasetChoice) -> bool:
        """True when it came from this model and this dataset (sample size and seed aside)."""
        return self.model_ref == model_ref.strip() and replace(self.dataset, n=None, seed=0) == replace(
            choice, n=None, seed=0)


def set_focus_text(focus: FocusText) -> None:
    """Make ``focus`` the text that later pages open."""
    st.session_state[FOCUS_KEY] = focus


def focus_text() -> FocusText | None:
    """The text chosen "to open in later pages", or None."""
    return st.session_state.get(FOCUS_KEY)


def clear_focus_text() -> None:
    st.session_state.pop(FOCUS_KEY, None)
