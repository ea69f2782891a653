"""The Corpus page under Streamlit's AppTest: the bundled MiniLM embeds 40 tweets on the local engine, the page
shows the numbers of the Parquet aggregates; a job the model cannot run is one error, not a traceback."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.state import DatasetChoice

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGE = "pages/corpus.py"

pytestmark = pytest.mark.app


def _page(jobs: list[str], n: int = 40) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["bl.dataset_choice"] = DatasetChoice(ref="bundled:tweets")
    at.session_state["bl.w.cor.model"] = "bundled:minilm"
    at.session_state["bl.w.cor.n"] = n
    at.session_state["bl.w.cor.jobs"] = jobs
    at.session_state["bl.w.cor.batch"] = 16
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    next(b for b in at.button if b.label == "Audit the corpus").click().run()
    assert not at.exception, at.exception
    return at


def test_embeddings_of_40_tweets_from_the_aggregates():
    at = _page(["embed"])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Texts audited"] == "40" and metrics["Accuracy"] == "–"
    caption = " ".join(c.value for c in at.caption)
    assert "3 batches of 16 texts on the local engine" in caption and "summary.parquet" not in caption
    assert not at.error
    at.button(key="bl.report-add.corpus.audit").click().run()  # the finding is a valid corpus section
    assert not at.exception, at.exception
    from ui import report_draft as rd

    f = at.session_state[rd.DRAFT_KEY].findings[-1]
    assert (f.kind, f.page, f.params["jobs"], f.params["n"]) == ("corpus", "Corpus", ["embed"], 40)


def test_a_job_the_model_cannot_run_is_one_error():
    at = _page(["embed", "predict"])
    assert len(at.error) == 1 and "no classification head" in at.error[0].value
    assert not at.metric


def test_the_corpus_map_and_a_regions_texts():
    """A classifier that predicts several classes (the tiny BERT family checkpoint) through the map, saliency and
    games jobs: the map, its cluster table, the mean games curves; another colour mode reruns cleanly."""
    import hashlib

    from tests.conftest import TEST_CACHE
    from tests.families import build_family

    source = ROOT / "tests" / "families.py"
    paths = build_family("bert", TEST_CACHE / "families" / hashlib.blake2b(source.read_bytes(), digest_size=6).hexdigest())
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["bl.dataset_choice"] = DatasetChoice(ref=str(paths["data"]))
    at.session_state["bl.w.cor.model"] = str(paths["classifier"])
    at.session_state["bl.w.cor.n"] = 100
    at.session_state["bl.w.cor.jobs"] = ["map", "saliency", "games"]
    at.session_state["bl.w.cor.batch"] = 16
    at.switch_page(PAGE)
    at.run()
    next(b for b in at.button if b.label == "Audit the corpus").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert {"Corpus map", "Faithfulness games"} <= {s.value for s in at.subheader}
    assert any("landmarks laid out by DeepView" in c.value for c in at.caption)
    clusters = next(d.value for d in at.dataframe if "lift" in d.value.columns)
    assert clusters["texts"].sum() == int(at.metric[0].value.replace(",", ""))
    at.radio(key="bl.w.cor.map_mode").set_value("error rate").run()
    assert not at.exception, at.exception
    # away and back: the kept widgets come back, the map's selection state is not written back (it cannot be)
    at.switch_page("pages/workspace.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert "Corpus map" in {s.value for s in at.subheader}
