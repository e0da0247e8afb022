"""The LaTeX reader: papers as a folder, a .tex, a .tar.gz and members of an arXiv bulk tar; inlined inputs."""

from __future__ import annotations

import json

from conftest import arxiv_docs

from dataprep.io.readers.latex import assemble_paper


def test_latex_reader_folder_tex_targz_and_bulk_tar():
    docs = arxiv_docs()
    ids = docs["id"].to_list()
    # the bulk tar: three papers from .gz members (a gzipped .tex, a gzipped tar, one without sections);
    # its PDF-only member is not a paper
    assert ids == ["s/2301.00001", "s/2301.00002", "s/2301.00003", "s/2302.00004", "s/2302.00005", "s/2302.00007"]
    meta = [json.loads(m) for m in docs["meta"]]
    assert meta[0]["main"] == "main.tex" and meta[0]["files"] == ["main.tex", "sections/intro.tex",
                                                                   "sections/method.tex"]
    assert meta[1]["encoding"] == "latin-1" and "étude" in docs["text"][1]
    assert "\\section{Method}" in docs["text"][0]  # \input and \include were inlined


def test_assemble_paper_without_main_file_concatenates():
    text, meta = assemble_paper({"b.tex": b"\\section{B}", "a.tex": b"\\section{A}", "x.png": b"\x89"})
    assert text == "\\section{A}\n\\section{B}" and meta["main"] is None
    assert assemble_paper({"x.png": b""}) is None
