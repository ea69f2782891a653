"""Charts of a corpus audit's aggregates (:class:`core.analyses.corpus.aggregates.CorpusAggregates`): never rows."""
from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

from figures.style import _theme

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.corpus.aggregates import CorpusAggregates

OUTCOME_COLORS = {"correct": "#0072B2", "wrong": "#D55E00", "unlabelled": "#999999"}
QUANTITY_TITLES = {"confidence": "confidence (probability of the predicted class)",
                   "entropy": "attribution entropy (normalised, 0 = one token, 1 = even)",
                   "saliency_entropy": "saliency entropy (normalised, 0 = one token, 1 = even)",
                   "saliency_top_share": "top token's share of the saliency"}


def outcome_histogram_chart(agg: "CorpusAggregates", quantity: str, *, width: int = 420, height: int = 170,
                            title: str = "", subtitle: str = "") -> alt.Chart:
    """Stacked bars: texts per bin of ``quantity`` ("confidence" or "entropy"), coloured by correct / wrong /
    unlabelled."""
    rows = [r for r in agg.histograms if r[0] == quantity]
    df = pd.DataFrame(rows, columns=["quantity", "outcome", "low", "high", "count"])
    outcomes = [o for o in OUTCOME_COLORS if o in set(df["outcome"])]
    chart = alt.Chart(df).mark_bar(stroke="white", strokeWidth=0.5).encode(
        x=alt.X("low:Q", bin="binned", title=QUANTITY_TITLES.get(quantity, quantity), scale=alt.Scale(domain=[0, 1])),
        x2="high:Q",
        y=alt.Y("sum(count):Q", title="texts", stack="zero"),
        color=alt.Color("outcome:N", title="prediction", sort=outcomes,
                        scale=alt.Scale(domain=outcomes, range=[OUTCOME_COLORS[o] for o in outcomes])),
        order=alt.Order("outcome:N"),
        tooltip=["outcome:N", alt.Tooltip("low:Q", format=".2f"), alt.Tooltip("high:Q", format=".2f"), "count:Q"],
    ).properties(width=width, height=height, title=alt.TitleParams(title, subtitle=subtitle) if title else "")
    return _theme(chart)


def corpus_games_chart(agg: "CorpusAggregates", *, metric: str = "accuracy", width: int = 300,
                       height: int = 200) -> alt.Chart:
    """The corpus's mean hiding and revealing curves (the saliency method's order and the random order), drawn as
    the faithfulness games are (:func:`figures.faithfulness.curves_chart`)."""
    from figures.faithfulness import curves_chart

    against = "true labels" if agg.summary.get("games_against_labels") else "intact predictions"
    return curves_chart(agg.game_curves(), accuracy_against=against, metric=metric, width=width, height=height)


__all__ = ["OUTCOME_COLORS", "corpus_games_chart", "outcome_histogram_chart"]
