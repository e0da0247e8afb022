"""LaTeX papers (``format: latex``; ``.tex``): one document per paper. A paper is a ``.tex`` file, a folder of
sources, a ``.tar.gz`` of sources, or one member of an arXiv bulk ``.tar`` (whose members are per-paper ``.gz``
files, each a gzipped tar or a gzipped single ``.tex``).

The main file is the one with ``\\documentclass`` and ``\\begin{document}``; ``\\input``, ``\\include`` and
``\\subfile`` are inlined from the paper's files (10 levels deep); a paper without a main file is its ``.tex``
files concatenated in name order. Text is UTF-8, or Latin-1 when it is not valid UTF-8 (``meta.encoding``).
An archive that cannot be unpacked is quarantined (``bad_archive``), a paper without ``.tex`` (``no_tex``).
Cleaning is the ``latex_clean`` step.

A paper's files are untrusted (:mod:`.safety`): in a paper's folder, an entry whose real path leaves the folder
(a link to a host file or folder), a FIFO, a device or a socket is quarantined (``unsafe_path``, naming it) and
not read, and the paper is assembled from its other files; in a tarball, so is a member that is a link (symbolic
or hard), a device or a FIFO, or whose name is absolute or has a ``..`` component, and such a member of a bulk
archive is not read as a paper. ``\\input`` names only ever resolve to the paper's own files.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from dataprep.io.readers.base import BATCH_DOCS, Chunk, DocBatch, Format, Quarantine, ReadOptions, register
from dataprep.io.readers.safety import UNSAFE, entry_problem, member_name_problem, tar_member_problem

INCLUDE_RE = re.compile(rb"\\(?:input|include|subfile)\s*\{([^}]+)\}")
MAX_INCLUDE_DEPTH = 10
#: what a paper's assembly says of it: its main file (None: none), the files used, the text's encoding
PaperMeta = dict[str, str | list[str] | None]
#: a paper's files (name -> bytes) and the entries of it that were refused, each "name: why"
PaperFiles = tuple[dict[str, bytes], list[str]]


def _decode_tex(raw: bytes) -> tuple[str, str]:
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def assemble_paper(files: dict[str, bytes]) -> tuple[str, PaperMeta] | None:
    """One paper's text from its files (name -> bytes): the main file with its inputs inlined, or every
    ``.tex`` file in name order when none is a main file. None when the paper has no ``.tex`` file."""
    tex = {n: b for n, b in files.items() if n.lower().endswith(".tex")}
    if not tex:
        return None
    mains = sorted(n for n, b in tex.items() if b"\\documentclass" in b and b"\\begin{document}" in b)
    if not mains:
        body = b"\n".join(tex[n] for n in sorted(tex))
        text, enc = _decode_tex(body)
        return text, {"main": None, "files": sorted(tex), "encoding": enc}
    used: list[str] = []

    def inline(name: str, depth: int) -> bytes:
        used.append(name)
        folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""

        def repl(m: re.Match[bytes]) -> bytes:
            target = m.group(1).decode("utf-8", "replace").strip()
            if member_name_problem(target) is not None:  # never outside the paper (no such file is in it)
                return m.group(0)
            for cand in (target, target + ".tex", folder + target, folder + target + ".tex"):
                if cand in tex and depth < MAX_INCLUDE_DEPTH and cand not in used:
                    return inline(cand, depth + 1)
            return m.group(0)

        return INCLUDE_RE.sub(repl, tex[name])

    text, enc = _decode_tex(inline(mains[0], 0))
    return text, {"main": mains[0], "files": sorted(set(used)), "encoding": enc}


def _tar_files(data: bytes) -> PaperFiles:
    """The regular members of a paper's tar, by name, read into memory; links, devices, FIFOs and members whose
    names leave the archive are refused (never ``extractfile``: it resolves a link to another member)."""
    out, refused = {}, []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isdir():
                continue
            problem = tar_member_problem(member)
            if problem is not None:
                refused.append(f"member {member.name}: {problem}")
                continue
            fh = tar.extractfile(member)
            if fh is not None:
                out[member.name.lstrip("./")] = fh.read()
    return out, refused


def _paper_files(name: str, data: bytes) -> PaperFiles:
    """Files of one paper given as bytes: a (gzipped) tar of sources or a (gzipped) single ``.tex``."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) > 262 and data[257:262] == b"ustar":
        return _tar_files(data)
    base = re.sub(r"(\.gz|\.tgz|\.tar)+$", "", name.rsplit("/", 1)[-1])
    return {base if base.endswith(".tex") else base + ".tex": data}, []


def _folder_files(folder: Path) -> PaperFiles:
    """The files of a paper's folder, by name relative to it; entries whose real path leaves the folder, FIFOs,
    devices and sockets are refused without being opened (links to files inside are read)."""
    files, refused = {}, []
    for p in sorted(folder.rglob("*")):  # rglob does not descend into linked folders
        name = str(p.relative_to(folder)).replace("\\", "/")
        problem = entry_problem(folder, p, "the paper's folder")
        if problem is not None:
            refused.append(f"{name}: {problem}")
        elif p.is_file():
            files[name] = p.read_bytes()
    return files, refused


#: what :func:`_latex_units` gives for each paper: its name, its files or the error that unpacking them
#: raised (None: the paper was refused whole), and the entries of it refused as unsafe
LatexUnit = tuple[str, dict[str, bytes] | Exception | None, list[str]]


def _latex_units(path: Path) -> Iterator[LatexUnit]:
    """(paper name, files, refused entries) for each paper in ``path``."""
    if path.is_dir():
        yield path.name, *_folder_files(path)
        return
    name = path.name
    lower = name.lower()
    if lower.endswith(".tex"):
        yield name[:-4], {name: path.read_bytes()}, []
    elif lower.endswith(".tar"):  # an arXiv bulk archive: one paper per member
        with tarfile.open(str(path)) as tar:
            for member in tar.getmembers():
                if member.isdir():
                    continue
                stem = re.sub(r"(\.gz|\.tgz|\.tar|\.pdf)+$", "", member.name.rsplit("/", 1)[-1])
                problem = tar_member_problem(member)
                if problem is not None:
                    yield stem or member.name, None, [f"member {member.name}: {problem}"]
                    continue
                fh = tar.extractfile(member)
                if fh is not None:
                    if member.name.lower().endswith(".pdf"):
                        continue  # arXiv ships a PDF when no source exists
                    yield stem, *_guarded(member.name, fh.read())
    else:  # .tar.gz / .tgz / .gz of one paper
        yield re.sub(r"(\.gz|\.tgz|\.tar)+$", "", name), *_guarded(name, path.read_bytes())


ARCHIVE_ERRORS = (OSError, EOFError, tarfile.TarError, zlib.error, ValueError)


def _guarded(name: str, data: bytes) -> tuple[dict[str, bytes] | Exception, list[str]]:
    """A paper's files and its refused members, or the error that unpacking its archive raised (one bad paper
    of a bulk archive is quarantined, the others are read)."""
    try:
        return _paper_files(name, data)
    except ARCHIVE_ERRORS as exc:
        return exc, []


def read_latex(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """One document per paper in ``path`` (a paper, or a bulk archive of papers), ``BATCH_DOCS`` at a time."""
    q = Quarantine(opts.source, rel)
    batch = DocBatch(opts.source)
    index = 0
    try:
        for name, files, refused in _latex_units(path):
            index += 1
            for entry in refused:
                q.add(UNSAFE, f"paper {name}: {entry}; not read", None, row=index)
            if files is None:
                continue
            if isinstance(files, Exception):
                q.add("bad_archive", f"paper {name}: cannot unpack its sources: {files}", None, row=index)
                continue
            paper = assemble_paper(files)
            if paper is None:
                q.add("no_tex", f"paper {name}: no .tex file among {len(files)} file(s)", None, row=index)
                continue
            text, meta = paper
            batch.add(f"{opts.source}/{name}", text, {"paper": name, **meta})
            if len(batch) >= BATCH_DOCS:
                yield Chunk(batch.take(), q.take())
    except ARCHIVE_ERRORS as exc:
        q.add("corrupt_stream", f"unreadable LaTeX sources after paper {index}: {exc}", None, row=index)
    yield Chunk(batch.take(), q.take())


def paper_units(folder: Path) -> list[Path]:
    """A folder given as a LaTeX source's path: itself when it holds ``.tex`` files directly (one paper), else
    each entry in it (a paper's folder, a ``.tex`` file, or an archive of sources; an entry that must not be
    read, a link leaving the folder or a FIFO, is listed too, and quarantined by the reader unopened)."""
    if any(p.suffix.lower() == ".tex" and p.is_file() for p in folder.iterdir()):
        return [folder]
    return [p for p in folder.iterdir() if not p.name.startswith(".")]


#: ``options={}``: the format is among those that take reader options, none so far
register(Format("latex", read_latex, extensions=(".tex",), folder_units=paper_units, options={}))
