"""Multi-task synergy: task × task matrices and the joint map of all tasks' texts.
"""
from __future__ import annotations

from typing import Sequence
import altair as alt
import numpy as np
import pandas as pd
from figures.style import PALETTE, _shorten, _theme


def matrix_chart(matrix: np.ndarray, rows: Sequence[str], cols: Sequence[str] | None = None, *, title: str,
                 value_title: str, domain: tuple[float, float] = (0.0, 1.0), fmt: str = ".2f",
                 row_title: str = "", col_title: str = "", subtitle: str = "", cell: int = 70) -> alt.Chart:
    """A labelled heatmap with the value printed in each cell (readable in grey scale)."""
    cols = list(cols if cols is not None else rows)
    recs = [{"row": r, "col": c, "value": float(matrix[i, j])} for i, r in enumerate(rows)
            for j, c in enumerate(cols)]
    df = pd.DataFrame(recs)
    mid = (domain[0] + domain[1]) / 2
    base = alt.Chart(df).encode(x=alt.X("col:N", sort=cols, title=col_title or None, axis=alt.Axis(labelAngle=0)),
                                y=alt.Y("row:N", sort=list(rows), title=row_title or None))
    rect = base.mark_rect(stroke="white").encode(
        color=alt.Color("value:Q", scale=alt.Scale(scheme="blues", domain=list(domain)), title=value_title),
        tooltip=["row:N", "col:N", alt.Tooltip("value:Q", format=fmt)])
    text = base.mark_text(fontSize=12).encode(
        text=alt.Text("value:Q", format=fmt),
        color=alt.condition(alt.datum.value > mid, alt.value("white"), alt.value("black")))
    return _theme((rect + text).properties(width=cell * len(cols), height=cell * len(rows),
                                           title=alt.TitleParams(title, subtitle=subtitle, subtitleFontSize=10)))


def joint_projection_chart(points: np.ndarray, groups: Sequence[str], labels: Sequence[str], texts: Sequence[str], *,
                           color_by: str = "task", title: str = "All tasks in one map", width: int = 520,
                           height: int = 420) -> alt.Chart:
    """Scatter of a joint 2-D map. points (n, 2); groups: task per point; labels: 'task: label' per point."""
    if color_by not in ("task", "label"):
        raise ValueError("color_by is task or label")
    df = pd.DataFrame({"x": points[:, 0].astype(float), "y": points[:, 1].astype(float), "task": list(groups),
                       "label": list(labels), "text": [_shorten(t) for t in texts]})
    field = "task" if color_by == "task" else "label"
    domain = list(dict.fromkeys(df[field]))
    scale = alt.Scale(domain=domain, range=[PALETTE[i % len(PALETTE)] for i in range(len(domain))])
    tasks = list(dict.fromkeys(df["task"]))
    shapes = ["circle", "square", "triangle-up", "diamond", "cross"]
    chart = alt.Chart(df).mark_point(filled=True, size=28, opacity=0.85).encode(
        x=alt.X("x:Q", axis=None, scale=alt.Scale(zero=False)), y=alt.Y("y:Q", axis=None, scale=alt.Scale(zero=False)),
        color=alt.Color(f"{field}:N", scale=scale, title="Task" if field == "task" else "Task: label",
                        legend=alt.Legend(orient="right", labelLimit=260)),
        shape=alt.Shape("task:N", scale=alt.Scale(domain=tasks, range=shapes[:len(tasks)]), title="Task"),
        tooltip=[alt.Tooltip("text:N", title="Text"), "task:N", "label:N"],
    ).properties(width=width, height=height, title=alt.TitleParams(
        title, subtitle="UMAP of the shared encoder's pooled embeddings (cosine); shape = task", subtitleFontSize=10))
    return _theme(chart)
