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

Memory is bounded by settings, whatever an archive unpacks to: archives are read streaming (never whole into
memory), only ``.tex`` members are kept, a ``.tex`` file or member larger than :func:`record_limit
<dataprep.io.readers.base.record_limit>`, or ``.tex`` files adding up to more, quarantine the paper as
``too_long`` (naming the member), and a paper's sources that unpack to more than ``MAX_UNPACKED_BYTES`` or at
a ratio over ``MAX_RATIO`` (a decompression bomb) are no longer read and quarantine it as ``archive_limit``,
naming the member being read and the limit; the other papers of a bulk archive are read.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import typing
import zlib
from collections.abc import Iterator
from pathlib import Path

from dataprep.io.readers.base import (
    BATCH_DOCS,
    TOO_LONG,
    Chunk,
    DocBatch,
    Format,
    Quarantine,
    ReadOptions,
    record_limit,
    register,
)
from dataprep.io.readers.safety import UNSAFE, entry_problem, member_name_problem, tar_member_problem

INCLUDE_RE = re.compile(rb"\\(?:input|include|subfile)\s*\{([^}]+)\}")
MAX_INCLUDE_DEPTH = 10
#: the most a paper's sources may unpack to (every member, kept or not). Not a memory bound (members other than
#: ``.tex`` are read through, not kept) but one of time: 1 GiB of gunzip is a second or two, and a paper's
#: sources past it are a data set or a decompression bomb, not a paper
MAX_UNPACKED_BYTES = 1 << 30
#: the highest decompression ratio (unpacked bytes over compressed bytes read) a paper's sources may reach:
#: Apache POI's zip-bomb guard refuses entries past 100:1 by default (``ZipSecureFile`` minimum inflate ratio
#: 0.01); LaTeX sources and their figures compress 3-10:1, a tar's padding somewhat more
MAX_RATIO = 100
#: unpacked bytes before the ratio is checked (small archives of tar padding compress far better than 100:1):
#: Apache POI's grace size for the same check is 100 KiB
RATIO_GRACE_BYTES = 100 << 10
#: bytes read from an archive stream at a time
READ_BYTES = 1 << 20
#: compressed bytes read at a time: small, so that the ratio is checked often (at most this many compressed
#: bytes unpack past the limit before it is)
PACKED_READ_BYTES = 16 << 10
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


class ArchiveLimit(Exception):
    """A paper's sources went past ``MAX_UNPACKED_BYTES`` or ``MAX_RATIO`` (the message says which, and where)."""


class PaperTooLong(Exception):
    """A paper's ``.tex`` sources are larger than the record limit (the message names the member)."""


class _Counted(io.RawIOBase):
    """A binary stream that counts the bytes read from it (the compressed side of a decompression)."""

    def __init__(self, raw: typing.BinaryIO) -> None:
        super().__init__()
        self.raw, self.count = raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(buf))
        n = len(data)
        buf[:n] = data
        self.count += n
        return n


class _Prefixed(io.RawIOBase):
    """``head`` then the rest of ``raw``."""

    def __init__(self, head: bytes, raw: typing.BinaryIO) -> None:
        super().__init__()
        self.head, self.raw = head, raw

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        if self.head:
            n = min(len(buf), len(self.head))
            buf[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.raw.read(len(buf))
        buf[: len(data)] = data
        return len(data)


class _Unpacked(_Prefixed):
    """The unpacked bytes of an archive stream (after ``head``, bytes already read from it and counted by the
    caller), raising :class:`ArchiveLimit` once they pass ``MAX_UNPACKED_BYTES`` or, past
    ``RATIO_GRACE_BYTES``, ``MAX_RATIO`` times the compressed bytes read."""

    def __init__(self, stream: typing.BinaryIO, packed: _Counted | None, name: str, head: bytes = b"") -> None:
        super().__init__(head, stream)
        self.packed, self.name = packed, name
        self.count = 0
        self.member = ""  # the member being read, for the message

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        from_head = bool(self.head)
        n = super().readinto(buf)
        if from_head:
            return n
        self.count += n
        where = f"{self.name}" + (f", member {self.member}" if self.member else "")
        if self.count > MAX_UNPACKED_BYTES:
            raise ArchiveLimit(f"{where}: unpacks to more than {MAX_UNPACKED_BYTES:,} bytes; not read further")
        if self.packed is not None and self.count > RATIO_GRACE_BYTES and \
                self.count > MAX_RATIO * max(self.packed.count, 1):
            raise ArchiveLimit(f"{where}: unpacks at more than {MAX_RATIO}:1 ({self.count:,} bytes from "
                               f"{self.packed.count:,}), a decompression bomb; not read further")
        return n


def _read_capped(fh: typing.BinaryIO, cap: int, what: str) -> bytes:
    """All of ``fh``, or :class:`PaperTooLong` once it holds more than ``cap`` bytes (never more is held)."""
    parts, held = [], 0
    while True:
        data = fh.read(min(READ_BYTES, cap + 1 - held))
        if not data:
            return b"".join(parts)
        parts.append(data)
        held += len(data)
        if held > cap:
            raise PaperTooLong(f"{what}: more than {cap:,} bytes, over the limit of one paper's sources "
                               "(limits: max_doc_bytes)")


def _is_tex(name: str) -> bool:
    return name.lower().endswith(".tex")


def _tar_files(fileobj: typing.BinaryIO, name: str, cap: int) -> PaperFiles:
    """The regular members of a paper's tar (read streaming), by name: ``.tex`` members read into memory (at
    most ``cap`` bytes in all), the others named with no bytes (only ``.tex`` files make a paper's text);
    links, devices, FIFOs and members whose names leave the archive are refused (never ``extractfile``: it
    resolves a link to another member)."""
    out, refused = {}, []
    held = 0
    unpacked = fileobj if isinstance(fileobj, _Unpacked) else None
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for member in tar:
            if member.isdir():
                continue
            problem = tar_member_problem(member)
            if problem is not None:
                refused.append(f"member {member.name}: {problem}")
                continue
            key = member.name.lstrip("./")
            if unpacked is not None:
                unpacked.member = member.name
            if not _is_tex(member.name):
                out[key] = b""  # read through by the next member's header, not kept
                continue
            if held + member.size > cap:
                raise PaperTooLong(f"{name}, member {member.name}: {member.size:,} bytes, with the other .tex "
                                   f"members over the limit of {cap:,} bytes of one paper's sources "
                                   "(limits: max_doc_bytes)")
            fh = tar.extractfile(member)
            if fh is not None:
                out[key] = _read_capped(fh, cap - held, f"{name}, member {member.name}")
                held += len(out[key])
    return out, refused


def _paper_files(name: str, raw: typing.BinaryIO, cap: int) -> PaperFiles:
    """Files of one paper given as a stream: a (gzipped) tar of sources or a (gzipped) single ``.tex``, read
    streaming under the archive limits."""
    packed = _Counted(raw)
    magic = packed.read(2)
    stream: typing.BinaryIO
    if magic == b"\x1f\x8b":
        stream = gzip.GzipFile(fileobj=io.BufferedReader(_Prefixed(magic, packed), PACKED_READ_BYTES), mode="rb")
    else:
        stream = io.BufferedReader(_Prefixed(magic, packed), READ_BYTES)
    head = b""
    while len(head) < 512:
        data = stream.read(512 - len(head))
        if not data:
            break
        head += data
    unpacked = _Unpacked(stream, packed if magic == b"\x1f\x8b" else None, name, head)
    unpacked.count = len(head)
    if len(head) > 262 and head[257:262] == b"ustar":
        return _tar_files(unpacked, name, cap)
    base = re.sub(r"(\.gz|\.tgz|\.tar)+$", "", name.rsplit("/", 1)[-1])
    return {base if base.endswith(".tex") else base + ".tex": _read_capped(unpacked, cap, name)}, []


def _folder_files(folder: Path, cap: int) -> PaperFiles:
    """The files of a paper's folder, by name relative to it (``.tex`` files read, at most ``cap`` bytes in
    all; the others named with no bytes); entries whose real path leaves the folder, FIFOs, devices and sockets
    are refused without being opened (links to files inside are read)."""
    files, refused = {}, []
    held = 0
    for p in sorted(folder.rglob("*")):  # rglob does not descend into linked folders
        name = str(p.relative_to(folder)).replace("\\", "/")
        problem = entry_problem(folder, p, "the paper's folder")
        if problem is not None:
            refused.append(f"{name}: {problem}")
        elif p.is_file():
            if not _is_tex(name):
                files[name] = b""
                continue
            size = p.stat().st_size
            if held + size > cap:
                raise PaperTooLong(f"{name}: {size:,} bytes, with the other .tex files over the limit of "
                                   f"{cap:,} bytes of one paper's sources (limits: max_doc_bytes)")
            with p.open("rb") as fh:
                files[name] = _read_capped(fh, cap - held, name)
            held += len(files[name])
    return files, refused


#: what :func:`_latex_units` gives for each paper: its name, its files or the error that unpacking them
#: raised (None: the paper was refused whole), and the entries of it refused as unsafe
LatexUnit = tuple[str, dict[str, bytes] | Exception | None, list[str]]


def _latex_units(path: Path, cap: int) -> Iterator[LatexUnit]:
    """(paper name, files, refused entries) for each paper in ``path``; ``cap``: the most bytes of ``.tex``
    sources one paper may hold."""
    if path.is_dir():
        try:
            yield path.name, *_folder_files(path, cap)
        except (PaperTooLong, OSError) as exc:
            yield path.name, exc, []
        return
    name = path.name
    lower = name.lower()
    if lower.endswith(".tex"):
        try:
            with path.open("rb") as fh:
                yield name[:-4], {name: _read_capped(fh, cap, name)}, []
        except PaperTooLong as exc:
            yield name[:-4], exc, []
    elif lower.endswith(".tar"):  # an arXiv bulk archive: one paper per member
        with tarfile.open(str(path)) as tar:
            for member in tar:
                if member.isdir():
                    continue
                stem = re.sub(r"(\.gz|\.tgz|\.tar|\.pdf)+$", "", member.name.rsplit("/", 1)[-1])
                problem = tar_member_problem(member)
                if problem is not None:
                    yield stem or member.name, None, [f"member {member.name}: {problem}"]
                    continue
                if member.name.lower().endswith(".pdf"):
                    continue  # arXiv ships a PDF when no source exists
                fh = tar.extractfile(member)
                if fh is not None:
                    yield stem, *_guarded(member.name, fh, cap)
    else:  # .tar.gz / .tgz / .gz of one paper
        with path.open("rb") as fh:
            yield re.sub(r"(\.gz|\.tgz|\.tar)+$", "", name), *_guarded(name, fh, cap)


ARCHIVE_ERRORS = (OSError, EOFError, tarfile.TarError, zlib.error, ValueError)


def _guarded(name: str, raw: typing.BinaryIO, cap: int) -> tuple[dict[str, bytes] | Exception, list[str]]:
    """A paper's files and its refused members, or the error that unpacking its archive raised or the limit it
    went past (one bad paper of a bulk archive is quarantined, the others are read)."""
    try:
        return _paper_files(name, raw, cap)
    except (*ARCHIVE_ERRORS, ArchiveLimit, PaperTooLong) as exc:
        return exc, []


def read_latex(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """One document per paper in ``path`` (a paper, or a bulk archive of papers), ``BATCH_DOCS`` at a time."""
    q = Quarantine(opts.source, rel)
    batch = DocBatch(opts.source)
    index = 0
    try:
        for name, files, refused in _latex_units(path, record_limit(opts)):
            index += 1
            for entry in refused:
                q.add(UNSAFE, f"paper {name}: {entry}; not read", None, row=index)
            if files is None:
                continue
            if isinstance(files, PaperTooLong):
                q.add(TOO_LONG, f"paper {name}: {files}; not read", None, row=index)
                continue
            if isinstance(files, ArchiveLimit):
                q.add("archive_limit", f"paper {name}: {files}", None, row=index)
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
