"""Which lakes run their dedupe, commit and warehouse phases in processes of their own."""
from __future__ import annotations

import pytest

from tasks.lake.apart import APART_FROM, DEFAULT_APART_FROM, runs_apart


def test_a_small_lake_stays_in_the_flows_process_a_big_one_goes_apart(monkeypatch):
    monkeypatch.delenv(APART_FROM, raising=False)
    assert not runs_apart(161) and not runs_apart(DEFAULT_APART_FROM - 1)
    assert runs_apart(DEFAULT_APART_FROM) and runs_apart(361_500)
    monkeypatch.setenv(APART_FROM, "0")  # always
    assert runs_apart(0) and runs_apart(161)


def test_a_setting_that_is_not_a_number_is_named(monkeypatch):
    monkeypatch.setenv(APART_FROM, "2k")
    with pytest.raises(ValueError, match=f"{APART_FROM}='2k': not a number of documents"):
        runs_apart(161)
