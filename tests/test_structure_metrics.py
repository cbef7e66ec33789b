"""The structure benchmark's metrics: perfect on the reference itself, and each one sees its own loss."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from structure_metrics import heading_tree, score, split_tables  # noqa: E402

REFERENCE = """# Report

Intro text of the report.

## Results

| name | value |
| - | - |
| alpha | 1 |
| beta | 2 |

## Discussion

Closing words.
"""


def test_reference_scores_one_against_itself():
    s = score(REFERENCE, REFERENCE)
    assert s["nid"] == s["teds"] == s["mhs"] == s["overall"] == pytest.approx(1.0)


def test_flat_text_loses_tables_and_headings_but_keeps_words():
    flat = "Report\nIntro text of the report.\nResults\nname value\nalpha 1\nbeta 2\nDiscussion\nClosing words."
    s = score(REFERENCE, flat)
    assert s["teds"] == 0.0 and s["mhs"] == 0.0
    assert s["nid"] > 0.8
    assert s["overall"] < 0.4


def test_wrong_heading_level_and_cell_text_cost_less_than_nothing():
    wrong = REFERENCE.replace("## Results", "### Results").replace("| beta | 2 |", "| beta | 3 |")
    s = score(REFERENCE, wrong)
    assert 0.5 < s["mhs"] < 1.0 and s["mhs_s"] < 1.0
    assert 0.8 < s["teds"] < 1.0 and s["teds_s"] == pytest.approx(1.0)


def test_html_tables_with_spans_are_tables():
    html = '<table><tr><td colspan="2">both</td></tr><tr><td>a</td><td>b</td></tr></table>'
    text, tables = split_tables("before\n" + html + "\nafter")
    assert "<table" not in text and len(tables) == 1
    assert [c.kind for c in tables[0].children[0].children] == ["td1x2"]


def test_headings_in_code_blocks_are_not_headings():
    tree = heading_tree("# Real\n\n```\n# comment\n```\n")
    assert [n.text for n in tree.children] == ["Real"]
