"""The per-source cleaners of LLaMA's mix on the bundled samples and on nasty inputs: the URL filter, arXiv LaTeX,
StackExchange threads, Wikipedia wikitext, book-level near duplicates (the readers' own tests are in
tests/io/)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import polars as pl
import pytest
from conftest import SAMPLE, arxiv_docs, read

from dataprep.dedup.minhash import MinHashDedup
from filters import GutenbergClean, LatexClean, StackExchangeFormat, URLFilter, WikiClean, wikitext_to_text
from filters.latex import expand_macros, parse_macros
from filters.markup import post_html_to_text, unescape_entities

# ---- web pages -------------------------------------------------------------------------------------------------


def test_url_filter_rules(tmp_path):
    urls = {"curated": "https://en.wikipedia.org/wiki/Debian", "subword": "http://www.freepornvideos.example/x",
            "soft": "https://news.example.com/hot-girls-chat", "one_soft": "https://shop.example.com/hot-deals",
            "blocked": "https://sub.bad.example.org/page", "listed": "https://casino-site.example/", "hard":
            "https://example.com/free-casino", "ok": "https://debian.example.org/apt", "none": None}
    df = pl.DataFrame({"id": list(urls), "text": ["x"] * len(urls),
                       "meta": [json.dumps({"url": u}) if u else None for u in urls.values()]})
    block = tmp_path / "domains"
    block.write_text("# UT1 style\ncasino-site.example\n")
    step = URLFilter(blocked_domains=["bad.example.org"], blocklist_file=str(block))
    kept, rejected = step.split(df)
    assert dict(zip(rejected["id"], rejected["reason"], strict=True)) == {
        "curated": "curated_source", "subword": "banned_subword", "soft": "soft_words",
        "blocked": "blocked_domain", "listed": "blocked_domain", "hard": "banned_word"}
    assert kept["id"].to_list() == ["one_soft", "ok", "none"]
    assert step.run_polars(df)[2] == {"no_url": 1}
    assert URLFilter(exclude_domains=[])(df).height == 5  # curated domains are a parameter


# ---- arXiv LaTeX -----------------------------------------------------------------------------------------------


def test_latex_clean_on_sample_papers():
    kept, rejected = LatexClean().split(arxiv_docs())
    assert rejected["id"].to_list() == ["s/2302.00007"] and rejected["reason"].to_list() == ["no_section"]
    for text in kept["text"]:
        assert text.startswith("\\section{Introduction}")
        assert "THIS MUST NOT APPEAR" not in text and "TODO" not in text and "\\newcommand" not in text
        assert "\\bibliography" not in text and "Proofs" not in text and "\\documentclass" not in text
        assert "\\mathbb{R}^n" in text and "\\left\\lVert v \\right\\rVert" in text and "\\varepsilon" in text
        assert "\\operatorname*{arg\\,min}_{w}" in text and "(x_1, \\dots, x_{n})" in text
        assert "\\begin{equation}" in text and "% main result" not in text
    assert kept["latex_macros"].to_list() == [6] * 5


def test_latex_macros_nested_braces_arguments_and_escapes():
    src = (r"\newcommand{\set}[1]{\{ #1 \}}\newcommand{\pair}[2]{\langle #1, #2 \rangle}"
           r"\renewcommand{\section}{X}\def\half{\frac{1}{2}}\newcommand{\ab}{\pair{a}{b}}"
           "\nbody $\\set{x^{2}, {y}}$ and $\\pair{\\half}{\\ab}$ \\halfway 50\\% \\section{S}")
    text, macros = parse_macros(src)
    assert set(macros) == {"set", "pair", "half", "ab"}  # \section is protected
    out = expand_macros(text, macros)
    assert "\\{ x^{2}, {y} \\}" in out
    assert "\\langle \\frac{1}{2}, \\langle a, b \\rangle \\rangle" in out
    assert "\\halfway" in out and "50\\%" in out and "\\section{S}" in out
    cleaned = LatexClean()(pl.DataFrame({"id": ["a"], "text": ["pre\n\\section{A} x % c\n50\\% y"]}))
    assert cleaned["text"][0] == "\\section{A} x\n50\\% y"


def test_latex_bulk_member_that_is_a_tarball(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("main.tex", b"\\documentclass{a}\\begin{document}\\input{s}\\end{document}"),
                           ("s.tex", b"\\section{S} text")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = tmp_path / "p.tar.gz"
    path.write_bytes(gzip.compress(buf.getvalue()))
    docs, _ = read(path, "latex")
    assert LatexClean()(docs)["text"].to_list() == ["\\section{S} text"]


# ---- StackExchange ---------------------------------------------------------------------------------------------


def se_docs(**options) -> tuple[pl.DataFrame, pl.DataFrame]:
    return read(SAMPLE / "stackexchange" / "unix.stackexchange.com" / "Posts.xml", "stackexchange", **options)


def test_stackexchange_threads_sorted_by_score_with_code():
    docs, q = se_docs()
    assert q.height == 0
    kept, rejected = StackExchangeFormat().split(docs)
    assert dict(zip(rejected["reason"], rejected["id"], strict=True)).keys() == {"orphan_answer", "not_a_question"}
    assert rejected.height == 3
    loop = kept.filter(pl.col("id") == "unix.stackexchange.com/4")["text"][0]
    assert loop.startswith("Q: Why does my shell loop stop after the first line?\n\nThis only prints one line:")
    # answers by score: 88, 0, -3; code blocks fenced, entities unescaped inside them, &#39; and &mdash;
    assert loop.index("A: `ssh` reads") < loop.index("A: Works for me.") < loop.index("A: Just use a for loop")
    assert "```\nwhile read -r host; do\n    ssh \"$host\" uptime < /dev/null\ndone < hosts.txt\n```" in loop
    assert "it's easier" in loop and "—" in loop
    meta = json.loads(kept.filter(pl.col("id") == "unix.stackexchange.com/4")["meta"][0])
    assert meta["answer_scores"] == [88, 0, -3] and meta["tags"] == ["bash", "shell"]
    assert "answers" not in meta
    redirect = kept.filter(pl.col("id") == "unix.stackexchange.com/8")["text"][0]
    assert redirect.startswith("Q: What does 2>&1 mean?") and "\n- `> out.log` points fd 1" in redirect
    sed = kept.filter(pl.col("id") == "unix.stackexchange.com/10")["text"][0]
    assert "sed 's/<div class=\"a\">/\\&lt;div&gt;/' page.html" in sed  # &amp;lt; is unescaped once only


def test_stackexchange_scores_and_out_of_core_join(monkeypatch):
    docs, _ = se_docs()
    strict = StackExchangeFormat(min_answer_score=0, min_question_score=0, require_answer=True)
    kept, rejected = strict.split(docs)
    assert "low_score" in rejected["reason"].to_list()
    assert all(min(json.loads(m)["answer_scores"]) >= 0 for m in kept["meta"])
    from dataprep.io.readers import stackexchange

    monkeypatch.setattr(stackexchange, "join_parts", lambda body_bytes, budget: 7)  # as if the dump were 7x the budget
    small, _ = se_docs()
    assert small.equals(docs)  # the same documents in the same order


def test_markup_entities_single_pass():
    assert unescape_entities(pl.Series(["&amp;lt; &notin; &#38;amp; &#x1F600; &nbsp;x"])).to_list() == [
        "&lt; ∉ &amp; 😀 \u00a0x"]
    assert post_html_to_text(pl.Series(["<p>a<br>b</p><hr><h2>T</h2><p>c &gt; d</p>"])).to_list() == [
        "a\nb\n\nT\n\nc > d"]


# ---- Wikipedia -------------------------------------------------------------------------------------------------


def test_mediawiki_reader_and_wiki_clean_on_sample():
    docs, q = read(SAMPLE / "wiki" / "sample-pages-articles.xml.bz2", "mediawiki")
    assert docs.height == 28 and q.height == 0
    kept, rejected = WikiClean().split(docs)
    assert dict(zip(rejected["id"], rejected["reason"], strict=True)) == {
        "s/900": "redirect", "s/901": "disambiguation", "s/902": "not_article"}
    for text in kept["text"]:
        for mark in ("[[", "]]", "{{", "}}", "{|", "|}", "<ref", "'''", "<!--", "Category:", "Reflist", "See also",
                     "External links", "wikitable", "thumb|"):
            assert mark not in text, (mark, text[:300])
    first = kept["text"][0]
    assert first.startswith(json.loads(kept["meta"][0])["title"])
    plain = docs.filter(pl.col("id") == "s/903")
    assert WikiClean()(plain)["text"][0] == plain["text"][0].strip()


def test_wikitext_nested_templates_links_tables():
    src = ("{{Infobox|a={{b|{{c|d}}}}|logo=[[File:x.png|thumb|A [[nested]] caption]]}}'''Bold''' [[a|b]]s and "
           "[[c]] {{lang|fr|texte}} {{convert|5|km}}.<ref>{{cite|x}}</ref><ref name=\"y\"/>\n"
           "{| class=x\n| a || {| \n| inner\n|}\n|}\n== Heading ==\n* item [http://x.org label] "
           "[[fr:Truc]]\n== References ==\n{{reflist}}")
    assert wikitext_to_text(pl.Series([src])).to_list() == [
        "Bold bs and c texte 5 km.\n\nHeading\n- item label"]


# ---- books -------------------------------------------------------------------------------------------------------


def test_book_preset_removes_reprint_and_keeps_revised_edition():
    files = sorted((SAMPLE / "books").glob("*.txt"))
    df = pl.DataFrame({"id": [p.stem for p in files], "text": [p.read_text() for p in files],
                       "source": ["books"] * len(files)})
    df = GutenbergClean()(df)
    kept, dups = MinHashDedup(preset="books").split(df)
    # the reprint is the longer copy (its transcriber's note): it wins (keep: longest)
    assert dups["id"].to_list() == ["en-handbook"]
    assert dups["duplicate_of"].to_list() == ["en-handbook-reprint"]
    assert "en-handbook-2nd-edition" in kept["id"].to_list()
    with pytest.raises(ValueError, match="unknown preset"):
        MinHashDedup(preset="films")
