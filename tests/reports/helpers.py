"""Helpers shared by the report tests."""
from __future__ import annotations

import re

import pytest

from core.foundation.errors import SpecError
from reports.spec import parse_spec


def spec_error(text: str, source: str = "spec.yaml") -> str:
    """The message of the SpecError that parsing ``text`` raises (fails the test when it parses)."""
    with pytest.raises(SpecError) as ei:
        parse_spec(text, source=source)
    return str(ei.value)


def assert_no_markup(html: str) -> None:
    """No tag or handler from hostile texts became markup."""
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", html, re.IGNORECASE)
