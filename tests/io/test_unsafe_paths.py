"""No input reads outside itself (issue 18): hostile folder entries and archive members are quarantined as
``unsafe_path`` with their name and why, never read, and the good documents beside them still are.

Hostile inputs are built in tmp_path: folder papers and source folders holding symbolic links (to a file
outside, to a folder outside, dangling), FIFOs; ``\\input`` of ``../..`` paths; tarballs with members of
absolute names, ``..`` components, symbolic and hard links, devices and FIFOs; ``.7z`` dumps whose ``Posts.xml``
has an absolute or ``..`` name (py7zr refuses to write such names, so the archive is written with a placeholder
name of the same length and the name patched in its plain header, CRCs recomputed), or is a symbolic link.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import struct
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import polars as pl
import pytest
from conftest import ROOT, assert_balanced, read, read_all, run_cli, write_jsonl, write_recipe

from dataprep.io import ReadOptions, expand_paths, read_file
from dataprep.io.readers.safety import inside, member_name_problem, unit_base

SECRET = "HOST-SECRET-7f3a"
MAIN = (b"\\documentclass{article}\n\\begin{document}\nGOOD-MAIN\n\\input{leak}\n\\input{hostdir/secret}\n"
        b"\\input{../../etc/passwd}\n\\input{/etc/passwd}\n\\input{sub/../../host/secret}\n\\input{part}\n"
        b"\\end{document}\n")


@pytest.fixture(autouse=True)
def no_hang():
    """A test that opens a FIFO would block forever: fail it after 60 s instead."""

    def fail(*_):
        raise TimeoutError("the reader blocked (opened a FIFO?)")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A folder outside every input, holding files the readers must never read."""
    folder = tmp_path / "host"
    folder.mkdir()
    (folder / "secret.tex").write_text(f"\\section{{{SECRET}}}\n")
    (folder / "secret.jsonl").write_text(json.dumps({"text": SECRET}) + "\n")
    (folder / "secret.tar.gz").write_bytes(_tar_gz({"main.tex": MAIN.replace(b"GOOD-MAIN", SECRET.encode())}))
    return folder


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def assert_nothing_of(host_texts: list[str], *frames: pl.DataFrame) -> None:
    """No host content in any column of the documents or the quarantine (raw bytes included)."""
    for frame in frames:
        for col in frame.columns:
            for value in frame[col].to_list():
                blob = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                for text in host_texts:
                    assert text not in blob, (col, blob[:200])


def unsafe(q: pl.DataFrame) -> list[str]:
    return q.filter(pl.col("kind") == "unsafe_path")["error"].to_list()


def _passwd_lines() -> list[str]:
    try:
        return [line for line in Path("/etc/passwd").read_text().splitlines() if line.strip()][:3]
    except OSError:
        return []


def test_latex_folder_paper_with_links_out_dangling_links_and_a_fifo(tmp_path, host):
    paper = tmp_path / "paper"
    (paper / "sub").mkdir(parents=True)
    (paper / "main.tex").write_bytes(MAIN)
    (paper / "real_part.tex").write_text("GOOD-PART\n")
    os.symlink("real_part.tex", paper / "part.tex")  # a link that stays inside: read
    os.symlink(host / "secret.tex", paper / "leak.tex")
    os.symlink("/etc/passwd", paper / "passwd.tex")
    os.symlink(host, paper / "hostdir")  # a linked folder leaving the paper
    os.symlink(host / "missing.tex", paper / "dangling.tex")
    os.symlink("gone.tex", paper / "sub" / "dangling_inside.tex")  # nothing to read: skipped, as before
    os.mkfifo(paper / "pipe.tex")
    docs, q = read(paper, "latex")
    assert docs.height == 1 and "GOOD-MAIN" in docs["text"][0] and "GOOD-PART" in docs["text"][0]
    assert "\\input{leak}" in docs["text"][0]  # not inlined: leak.tex was refused
    assert "\\input{../../etc/passwd}" in docs["text"][0] and "\\input{/etc/passwd}" in docs["text"][0]
    assert_nothing_of([SECRET, *_passwd_lines()], docs, q)
    errors = unsafe(q)
    assert q["kind"].to_list() == ["unsafe_path"] * 5
    for name, why in (("leak.tex", "symbolic link"), ("passwd.tex", "/etc/passwd"), ("hostdir", "leaves"),
                      ("dangling.tex", "leaves"), ("pipe.tex", "FIFO")):
        assert any(f"paper paper: {name}: " in e and why in e for e in errors), (name, errors)
    meta = json.loads(docs["meta"][0])
    assert meta["files"] == ["main.tex", "part.tex"]


def test_latex_folder_of_papers_with_linked_papers_and_a_fifo(tmp_path, host):
    papers = tmp_path / "papers"
    (papers / "p1").mkdir(parents=True)
    (papers / "p1" / "main.tex").write_bytes(MAIN)
    (papers / "p5.tar.gz").write_bytes(_tar_gz({"main.tex": MAIN.replace(b"GOOD-MAIN", b"GOOD-P5")}))
    os.symlink(host, papers / "p2")
    os.symlink(host / "secret.tar.gz", papers / "p3.tar.gz")
    os.mkfifo(papers / "p4.tar.gz")
    os.symlink(host / "nothing.tar.gz", papers / "p6.tar.gz")
    units = expand_paths([str(papers)], "latex")
    assert [rel for _, rel in units] == ["p1", "p2", "p3.tar.gz", "p4.tar.gz", "p5.tar.gz", "p6.tar.gz"]
    opts = ReadOptions(source="s", format="latex")
    chunks = [c for path, rel in units for c in read_file(path, rel, opts)]
    docs = pl.concat([pl.from_arrow(c.docs) for c in chunks])
    q = pl.concat([pl.from_arrow(c.quarantine) for c in chunks])
    assert sorted(docs["id"].to_list()) == ["s/p1", "s/p5"]
    assert_nothing_of([SECRET], docs, q)
    assert q["kind"].to_list() == ["unsafe_path"] * 4
    assert q["file"].to_list() == ["p2", "p3.tar.gz", "p4.tar.gz", "p6.tar.gz"]
    assert "FIFO" in q["error"][2] and all("leaves the source folder" in e for e in q["error"].to_list()[:2])


def test_latex_tarball_members_links_devices_and_names_leaving_it(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("main.tex", MAIN), ("part.tex", b"GOOD-PART\n"), ("/abs/evil.tex", b"ABS-MEMBER"),
                           ("../up.tex", b"UP-MEMBER"), ("sub/../../x.tex", b"UP2-MEMBER")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in (_special("leak.tex", tarfile.SYMTYPE, "/etc/passwd"),
                     _special("hard.tex", tarfile.LNKTYPE, "main.tex"),
                     _special("hostdir", tarfile.SYMTYPE, "/etc"),
                     _special("dev.tex", tarfile.CHRTYPE), _special("blk.tex", tarfile.BLKTYPE),
                     _special("fifo.tex", tarfile.FIFOTYPE)):
            tar.addfile(info)
    archive = tmp_path / "2401.00001.tar.gz"
    archive.write_bytes(buf.getvalue())
    docs, q = read(archive, "latex")
    assert docs.height == 1 and "GOOD-MAIN" in docs["text"][0] and "GOOD-PART" in docs["text"][0]
    assert docs["text"][0].count("GOOD-MAIN") == 1  # the hard link did not inline main.tex into itself
    assert "\\input{../../etc/passwd}" in docs["text"][0] and "\\input{sub/../../host/secret}" in docs["text"][0]
    assert_nothing_of(["ABS-MEMBER", "UP-MEMBER", "UP2-MEMBER", *_passwd_lines()], docs, q)
    errors = unsafe(q)
    assert len(errors) == q.height == 9
    for name, why in (("/abs/evil.tex", "absolute name"), ("../up.tex", "'..'"), ("sub/../../x.tex", "'..'"),
                      ("leak.tex", "symbolic link (to /etc/passwd)"), ("hard.tex", "hard link (to main.tex)"),
                      ("hostdir", "symbolic link"), ("dev.tex", "device"), ("blk.tex", "device"),
                      ("fifo.tex", "FIFO")):
        assert any(f"member {name}: " in e and why in e for e in errors), (name, errors)
    assert json.loads(docs["meta"][0])["files"] == ["main.tex", "part.tex"]


def test_arxiv_bulk_tar_link_device_and_escaping_members(tmp_path):
    good = gzip.compress(MAIN.replace(b"GOOD-MAIN", b"GOOD-BULK"), mtime=0)
    other = gzip.compress(b"\\section{OTHER-MEMBER}", mtime=0)
    archive = tmp_path / "arXiv_src_2401_001.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in (("2401/2401.00001.gz", good), ("/abs/2401.00004.gz", other),
                           ("../2401.00005.gz", other)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in (_special("2401/2401.00002.gz", tarfile.SYMTYPE, "/etc/passwd"),
                     _special("2401/2401.00003.gz", tarfile.LNKTYPE, "2401/2401.00001.gz"),
                     _special("2401/2401.00006.gz", tarfile.CHRTYPE),
                     _special("2401/2401.00007.gz", tarfile.FIFOTYPE)):
            tar.addfile(info)
    docs, q = read(archive, "latex")
    assert docs["id"].to_list() == ["s/2401.00001"] and "GOOD-BULK" in docs["text"][0]
    assert_nothing_of(["OTHER-MEMBER", *_passwd_lines()], docs, q)
    errors = unsafe(q)
    assert len(errors) == q.height == 6
    for name in ("/abs/2401.00004.gz", "../2401.00005.gz", "2401/2401.00002.gz", "2401/2401.00003.gz",
                 "2401/2401.00006.gz", "2401/2401.00007.gz"):
        assert any(f"member {name}: " in e for e in errors), (name, errors)
    assert any("hard link (to 2401/2401.00001.gz)" in e for e in errors)


def test_source_folder_and_glob_entries_links_out_and_fifos(tmp_path, host):
    d = tmp_path / "d"
    write_jsonl(d / "good.jsonl", [{"text": "GOOD-DOC"}])
    write_jsonl(d / "sub" / "real.jsonl", [{"text": "GOOD-LINKED"}])
    os.symlink("sub/real.jsonl", d / "inside.jsonl")  # stays inside the source folder: read (once)
    os.symlink(host / "secret.jsonl", d / "leak.jsonl")
    os.symlink(host, d / "hostdir")  # a linked folder: a folder walk does not follow it
    os.symlink(host / "missing.jsonl", d / "dangling.jsonl")  # nothing to read: left out, as before
    os.mkfifo(d / "pipe.jsonl")
    got = expand_paths([str(d)])
    assert [rel for _, rel in got] == ["good.jsonl", "inside.jsonl", "leak.jsonl", "pipe.jsonl"]
    q_all, texts = [], []
    for path, rel in got:
        chunks = list(read_file(path, rel, ReadOptions(source="s")))
        texts += [t for c in chunks for t in c.docs.column("text").to_pylist()]
        q_all += [r for c in chunks for r in c.quarantine.to_pylist()]
    docs, q = read_all(d / "pipe.jsonl")  # one file read on its own: the FIFO is refused, not opened
    assert docs.num_rows == 0 and q.column("kind").to_pylist() == ["unsafe_path"]
    assert texts == ["GOOD-DOC", "GOOD-LINKED"]
    assert [(r["file"], r["kind"]) for r in q_all] == [("leak.jsonl", "unsafe_path"), ("pipe.jsonl", "unsafe_path")]
    assert "symbolic link to" in q_all[0]["error"] and "FIFO" in q_all[1]["error"]
    assert all(SECRET not in json.dumps(r, default=str) for r in q_all)
    # a recursive glob follows linked folders: what it finds through one leaving the base is refused
    globbed = expand_paths([str(d / "**" / "*.jsonl")])
    assert "hostdir/secret.jsonl" in [rel for _, rel in globbed]
    path = next(p for p, rel in globbed if rel == "hostdir/secret.jsonl")
    chunks = list(read_file(path, "hostdir/secret.jsonl", ReadOptions(source="s")))
    assert sum(c.docs.num_rows for c in chunks) == 0
    assert [r["kind"] for c in chunks for r in c.quarantine.to_pylist()] == ["unsafe_path"]


def test_a_file_named_literally_is_read_where_it_points(tmp_path, host):
    (tmp_path / "recipe").mkdir()
    os.symlink(host / "secret.jsonl", tmp_path / "recipe" / "named.jsonl")  # leaves its folder: named, so read
    [(path, rel)] = expand_paths([str(tmp_path / "recipe" / "named.jsonl")])
    assert rel == "named.jsonl" and path == Path(os.path.realpath(host / "secret.jsonl"))
    chunks = list(read_file(path, rel, ReadOptions(source="s")))
    assert [t for c in chunks for t in c.docs.column("text").to_pylist()] == [SECRET]


def _seven_zip(path: Path, members: dict[str, bytes], names: dict[str, str] | None = None) -> Path:
    """A .7z of ``members``; ``names`` renames members to names py7zr will not write (absolute, ``..``): each
    placeholder must have the real name's length, and is patched in the archive's plain header."""
    py7zr = pytest.importorskip("py7zr")
    with py7zr.SevenZipFile(path, "w") as z:
        z.set_encoded_header_mode(False)
        for name, data in members.items():
            z.writestr(data, name)
    raw = bytearray(path.read_bytes())
    for placeholder, real in (names or {}).items():
        assert len(placeholder) == len(real)
        old, new = placeholder.encode("utf-16-le"), real.encode("utf-16-le")
        at = raw.find(old)
        assert at > 0, placeholder
        raw[at:at + len(old)] = new
    offset, size = struct.unpack_from("<QQ", raw, 12)
    struct.pack_into("<I", raw, 28, zlib.crc32(bytes(raw[32 + offset:32 + offset + size])))
    struct.pack_into("<I", raw, 8, zlib.crc32(bytes(raw[12:32])))
    path.write_bytes(raw)
    with py7zr.SevenZipFile(path, "r") as z:
        assert sorted(z.getnames()) == sorted((names or {}).get(n, n) for n in members)
    return path


POSTS = '<posts>\n<row Id="1" PostTypeId="1" Title="T" Body="{body}" />\n</posts>\n'


@pytest.mark.parametrize("shape", ["absolute", "dotdot"])
def test_stackexchange_7z_posts_member_with_a_name_leaving_the_archive(tmp_path, shape):
    victim = tmp_path / "hostdir" / "site" / "Posts.xml"
    victim.parent.mkdir(parents=True)
    victim.write_text(POSTS.format(body=SECRET))
    real = str(victim) if shape == "absolute" else "../../hostdir/site/Posts.xml"
    placeholder = "x" * (len(real) - len("/Posts.xml")) + "/Posts.xml"
    archive = _seven_zip(tmp_path / "site.7z", {placeholder: POSTS.format(body="IN-ARCHIVE").encode()},
                         {placeholder: real})
    docs, q = read(archive, "stackexchange")
    assert docs.height == 0
    assert_nothing_of([SECRET, "IN-ARCHIVE"], docs, q)
    assert q["kind"].to_list() == ["unsafe_path"]
    assert f"member {real}: " in q["error"][0]
    assert ("absolute name" if shape == "absolute" else "'..'") in q["error"][0]
    assert not (tmp_path / "up").exists()


def test_stackexchange_7z_with_a_bad_and_a_good_posts_member(tmp_path):
    victim = tmp_path / "h" / "Posts.xml"
    victim.parent.mkdir()
    victim.write_text(POSTS.format(body=SECRET))
    real = str(victim)
    placeholder = "x" * (len(real) - len("/Posts.xml")) + "/Posts.xml"
    archive = _seven_zip(tmp_path / "site.7z", {placeholder: b"<posts/>",
                                                 "site/Posts.xml": POSTS.format(body="GOOD-POST").encode()},
                         {placeholder: real})
    docs, q = read(archive, "stackexchange")
    assert docs["text"].to_list() == ["GOOD-POST"]
    assert q["kind"].to_list() == ["unsafe_path"] and real in q["error"][0]
    assert_nothing_of([SECRET], docs, q)


def test_stackexchange_7z_posts_member_that_is_a_symbolic_link(tmp_path, host):
    py7zr = pytest.importorskip("py7zr")
    (host / "Posts.xml").write_text(POSTS.format(body=SECRET))
    link = tmp_path / "Posts.xml"
    os.symlink(host / "Posts.xml", link)
    archive = tmp_path / "site.7z"
    with py7zr.SevenZipFile(archive, "w") as z:
        z.write(link, "site/Posts.xml")
    docs, q = read(archive, "stackexchange")
    assert docs.height == 0 and q["kind"].to_list() == ["unsafe_path"]
    assert "member site/Posts.xml: a symbolic link" in q["error"][0]
    assert_nothing_of([SECRET], docs, q)


def test_the_path_rules():
    assert member_name_problem("a/b.tex") is None and member_name_problem("./a.tex") is None
    assert member_name_problem("a..b.tex") is None
    for bad in ("/etc/passwd", "../x", "a/../../x", "C:/x", "\\x", "a\\..\\x"):
        assert member_name_problem(bad) is not None, bad
    assert unit_base(Path("/d/sub/x.jsonl"), "sub/x.jsonl") == Path("/d")
    assert unit_base(Path("/d/sub/x.jsonl"), "other") == Path("/d/sub")
    assert inside("/d", "/d") and inside("/d", "/d/x") and not inside("/d", "/dx") and not inside("/d", "/")


def _quarantine_rows(out: Path) -> list[dict]:
    """The quarantined rows of a run (its default output format, Arrow files)."""
    files = sorted((out / "quarantine").glob("*.arrow"))
    return [r for p in files for r in pl.read_ipc(p).to_dicts()]


def _all_output(out: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file())


def test_run_over_a_hostile_latex_folder_balances(tmp_path, host):
    papers = tmp_path / "papers"
    (papers / "p1").mkdir(parents=True)
    (papers / "p1" / "main.tex").write_bytes(MAIN)
    os.symlink(host / "secret.tex", papers / "p1" / "leak.tex")
    os.symlink(host, papers / "p2")
    os.symlink(host / "secret.tar.gz", papers / "p3.tar.gz")
    recipe = write_recipe(tmp_path / "r.yaml", [{"name": "papers", "paths": ["papers/"], "format": "latex"}])
    run_cli("run", str(recipe), "-o", str(tmp_path / "out"), "-q", cwd=ROOT)
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert_balanced(stats)
    assert stats["counts"]["kept"] == 1 and stats["counts"]["quarantined"] == 3, stats["counts"]
    assert SECRET.encode() not in _all_output(tmp_path / "out")
    rows = _quarantine_rows(tmp_path / "out")
    assert sorted(r["file"] for r in rows) == ["p1", "p2", "p3.tar.gz"] and {r["kind"] for r in rows} == {"unsafe_path"}
    assert "leak.tex" in next(r["error"] for r in rows if r["file"] == "p1")


def test_run_over_a_source_folder_with_a_fifo_does_not_hang(tmp_path, host):
    d = tmp_path / "d"
    write_jsonl(d / "good.jsonl", [{"text": f"good document {i}"} for i in range(3)])
    os.mkfifo(d / "pipe.jsonl")
    os.symlink(host / "secret.jsonl", d / "leak.jsonl")
    recipe = write_recipe(tmp_path / "r.yaml", [{"name": "d", "paths": ["d/"]}])
    proc = subprocess.run([sys.executable, "-m", "dataprep.cli", "run", str(recipe), "-o", str(tmp_path / "out"),
                           "-q"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert_balanced(stats)
    assert stats["counts"]["kept"] == 3 and stats["counts"]["quarantined"] == 2, stats["counts"]
    assert SECRET.encode() not in _all_output(tmp_path / "out")
    rows = _quarantine_rows(tmp_path / "out")
    assert sorted((r["file"], r["kind"]) for r in rows) == [("leak.jsonl", "unsafe_path"),
                                                            ("pipe.jsonl", "unsafe_path")]
