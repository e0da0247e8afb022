"""Invisible characters do not split dedup and boilerplate keys (issue 15 item 5): a copy of a line or a document
that differs only by a zero-width space, soft hyphen, BOM, NUL, another control or format character is
recognised by ``exact_dedup``, ``paragraph_dedup`` and ``boilerplate_lines`` (cc_net strips code points 0-31
and 127-159; text-dedup removes ``\\p{C}``); white space still separates words; text written out keeps its
invisible characters."""

from __future__ import annotations

import json

import polars as pl
import pytest
from conftest import run_cli, write_jsonl, write_recipe

from dataprep.dedup import ExactDedup, ParagraphDedup, normalize_expr
from dataprep.io import read_folder
from dataprep.normalize import ccnet_normalize, strip_invisible
from filters.lines import BoilerplateLines

NAV = "Home | News | Sport | Contact us"
#: one invisible character each: zero-width space, soft hyphen, BOM, NUL, another C0 control, a C1 control,
#: word joiner, left-to-right mark, zero-width joiner, a private-use code point
INVISIBLE = ["\u200b", "\u00ad", "\ufeff", "\x00", "\x07", "\x9f", "\u2060", "\u200e", "\u200d", "\ue000"]


def variants(line: str) -> list[str]:
    """``line`` with one invisible character inserted at a few places."""
    return [line[:i] + c + line[i:] for c in INVISIBLE for i in (0, 3, len(line))]


def norm(texts: list[str], expr) -> list[str]:
    return pl.DataFrame({"text": texts}).select(expr).to_series().to_list()


def test_strip_invisible_keeps_visible_text_and_white_space():
    got = norm(["a\u200bb", "a\tb\nc", "a\u0085b", "a b", "é", "日本語\u200b"], strip_invisible(pl.col("text")))
    assert got == ["ab", "a\tb\nc", "a\u0085b", "a b", "é", "日本語"]


@pytest.mark.parametrize("expr", [normalize_expr(), ccnet_normalize(pl.col("text"))], ids=["exact", "ccnet"])
def test_normalizers_fold_invisible_characters(expr):
    base = norm([NAV], expr)[0]
    assert set(norm(variants(NAV), expr)) == {base}
    # visible differences still count: a word joined to the next, another word
    assert norm(["Home|News", "Home | Newz"], expr)[0] != base and norm(["Home | Newz"], expr)[0] != base
    # tab and newline are still white space (folded), not removed
    assert norm(["Home\tNews", "Home\nNews"], expr) == norm(["Home News", "Home News"], expr)


def test_exact_dedup_removes_copies_with_invisible_characters_and_keeps_the_text():
    first = "\ufeffThe same article\u200b about the weather."
    copies = ["The same article about the weather.", "The same\u00ad article about the weather.\x00",
              "The same article about the \u2060weather."]
    df = pl.DataFrame({"id": ["a", "b", "c", "d"], "text": [first, *copies]})
    kept, removed = ExactDedup().split(df)
    assert kept.get_column("text").to_list() == [first]  # written as it came, BOM and zero-width space kept
    assert removed.get_column("duplicate_of").to_list() == ["a", "a", "a"]
    assert removed.get_column("text").to_list() == copies
    # without normalization the raw bytes count, as before
    kept, removed = ExactDedup(normalize=False).split(df)
    assert kept.height == 4 and removed.height == 0


@pytest.mark.parametrize("unit", ["line", "paragraph"])
def test_paragraph_dedup_removes_a_repeat_carrying_an_invisible_character(unit):
    sep = "\n" if unit == "line" else "\n\n"
    docs = [sep.join([NAV, "First page body text."]), sep.join(["Second\u200b page body.", NAV + "\u200b"]),
            sep.join(["\x00" + NAV.replace("Sport", "Spo\u00adrt"), "Third page."])]
    edited = ParagraphDedup(unit=unit).annotate(pl.DataFrame({"id": ["a", "b", "c"], "text": docs}))
    texts = edited.get_column("text").to_list()
    assert texts == [docs[0], "Second\u200b page body.", "Third page."]  # surviving units keep their characters


def test_boilerplate_lines_sees_a_navigation_line_with_an_invisible_character():
    docs = [f"{NAV}\nA story about rivers.", f"{NAV}\u200b\nA story about mountains.",
            f"\ufeff{NAV}\nA story about lakes.", "Ho\u00adme | News | Sport | Contact us\nA story about seas."]
    out = BoilerplateLines(min_docs=2).annotate(pl.DataFrame({"id": list("abcd"), "text": docs}))
    assert out.get_column("text").to_list() == ["A story about rivers.", "A story about mountains.",
                                                "A story about lakes.", "A story about seas."]
    assert out.get_column("boilerplate_lines_removed").to_list() == [1, 1, 1, 1]
    # one copy only (the others differ visibly): nothing to remove
    lone = BoilerplateLines(min_docs=2).annotate(pl.DataFrame({"id": ["a", "b"], "text": [
        f"{NAV}\u200b\nbody one", "Home | Newz | Sport | Contact us\nbody two"]}))
    assert lone.get_column("boilerplate_lines_removed").to_list() == [0, 0]


def test_run_removes_invisible_copies_and_writes_the_kept_text_unchanged(tmp_path):
    """Through ``dataprep run`` (keys in workers, the out-of-core fit): the copies are duplicates of the first,
    and the kept document's bytes are its input's."""
    first = "A page\u200b about\u00ad tides and the moon.\nShare this page"
    rows = [{"id": "p1", "text": first}, {"id": "p2", "text": "A page about tides and the moon.\nShare this page"},
            {"id": "p3", "text": "\ufeffA page about tides and the moon.\x00\nShare this page"},
            {"id": "p4", "text": "Another page about the sea.\nShare\u200b this page"}]
    write_jsonl(tmp_path / "d" / "x.jsonl", rows)
    recipe = write_recipe(tmp_path / "r.yaml", [{"name": "d", "paths": ["d/"]}],
                          steps=["exact_dedup", "paragraph_dedup"])
    run_cli("run", str(recipe), "-o", str(tmp_path / "o"), "-q")
    kept = pl.from_arrow(read_folder(tmp_path / "o" / "kept"))
    dups = pl.from_arrow(read_folder(tmp_path / "o" / "duplicates"))
    texts = dict(zip(kept.get_column("id").to_list(), kept.get_column("text").to_list(), strict=True))
    assert texts == {"p1": first, "p4": "Another page about the sea."}
    assert sorted(zip(dups.get_column("id").to_list(), dups.get_column("duplicate_of").to_list(),
                      strict=True)) == [("p2", "p1"), ("p3", "p1")]
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert stats["counts"]["duplicates"] == 2
