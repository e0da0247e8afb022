"""Build the per-source samples of a LLaMA-style mix from the bundled reference excerpts (no network).

Usage::

    python sample_data/build_llama.py

Reads ``sample_data/reference/reference.parquet`` (Debian Reference excerpts, GPL-2+, see README.md) and
writes, deterministically:

- ``warc/crawl-00000.warc.gz``: a small crawl: HTML pages (three site templates with navigation, sidebars,
  cookie banners, comments, scripts; UTF-8, windows-1252 and Shift_JIS pages), an exact copy under another
  URL, pages on blocked, adult-word and curated (Wikipedia) URLs, and records that are not pages: warcinfo,
  requests, metadata, a PNG, a PDF, a 301 redirect and a 404;
- ``html/pages/*.html`` and ``html/truth.jsonl``: the same pages as files, with the main text each was built
  from (``benchmarks/html_extract.py`` scores extractors against it);
- ``wiki/sample-pages-articles.xml.bz2``: a MediaWiki export: articles in wikitext (infoboxes, nested
  templates, ``<ref>`` citations, tables, files, categories, interlanguage links, appendix sections), a
  redirect, a disambiguation page, a talk page and an article that is already plain text;
- ``arxiv/``: papers as a folder with ``\\input`` files, a single Latin-1 ``.tex``, a ``.tar.gz`` and an arXiv
  bulk ``.tar`` of per-paper ``.gz`` members (a gzipped ``.tex``, a gzipped tar, a PDF-only paper, a paper
  without sections), with user macros, comments, math and bibliographies;
- ``stackexchange/unix.stackexchange.com/Posts.xml``: questions and answers in the dump's XML with HTML bodies
  (code blocks, inline code, entities, lists), scores, an orphaned answer and a tag wiki;
- ``books/*.txt``: books of several chapters, some with Project Gutenberg headers and licence footers, an
  edition that repeats another with a few words changed, and a revised edition that shares half its text.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import html
import io
import json
import random
import re
import tarfile
from pathlib import Path

import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
SEED = 7
WARC_DATE = "2024-03-01T12:00:00Z"


def load_reference() -> dict[str, list[dict]]:
    rows = pq.read_table(HERE / "reference" / "reference.parquet").to_pylist()
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r["lang"], []).append(r)
    return out


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "page"


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


# ------------------------------------------------------------------------------------------------------------
# web pages and WARC

NAV = ["Home", "Blog", "Docs", "Forum", "Downloads", "About", "Contact"]
TEMPLATES = ("blog", "news", "docs")


def main_html(title: str, body: str) -> tuple[str, str]:
    """(HTML of the main content, its plain text)."""
    parts, text = [f"<h1>{html.escape(title)}</h1>"], [title]
    items: list[str] = []
    for para in paragraphs(body):
        lines = para.split("\n")
        if all(line.startswith("* ") for line in lines):
            items += [line[2:] for line in lines]
            continue
        if items:
            parts.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>")
            text += items
            items = []
        para = " ".join(lines)
        parts.append(f"<p>{html.escape(para)}</p>")
        text.append(para)
    if items:
        parts.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>")
        text += items
    return "\n".join(parts), "\n".join(text)


def page(title: str, body: str, template: str, lang: str, rng: random.Random,
         charset: str = "utf-8") -> tuple[str, str]:
    main, text = main_html(title, body)
    nav = " | ".join(f'<a href="/{n.lower()}">{n}</a>' for n in NAV)
    head = (f'<head><meta charset="{charset}"><title>{html.escape(title)} - Example site</title>'
            "<style>body{font-family:sans-serif}.sidebar{float:right;width:20%}</style>"
            "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}</script></head>")
    cookie = ('<div class="cookie-banner" id="cookie-consent">We use cookies to improve your experience. '
              '<button>Accept all cookies</button> <a href="/privacy">Privacy policy</a></div>')
    footer = ("<footer><p>Copyright 2024 Example Media. All rights reserved.</p><p><a href=\"/terms\">Terms of use"
              "</a> | <a href=\"/privacy\">Privacy</a> | <a href=\"/sitemap\">Sitemap</a></p></footer>")
    related = "".join(f'<li><a href="/post/{rng.randint(100, 999)}">Related post {i}</a></li>' for i in range(1, 6))
    if template == "blog":
        body_html = (f"<header><nav>{nav}</nav></header><div class=\"sidebar\"><h3>Recent posts</h3><ul>{related}"
                     f"</ul><h3>Tags</h3><p>linux debian shell admin</p></div><main><article>{main}</article>"
                     "<section class=\"comments\"><h3>3 comments</h3><div class=\"comment\">Great post, thanks!"
                     "</div><div class=\"comment\">This helped me a lot.</div></section></main>"
                     f"{footer}")
    elif template == "news":
        body_html = (f"{cookie}<header><div class=\"logo\">Example News</div><nav>{nav}</nav></header>"
                     f"<div class=\"breaking\">Breaking: subscribe to our newsletter</div><main><article>{main}"
                     f"</article></main><aside><h3>Most read</h3><ol>{related}</ol></aside>{footer}"
                     "<script>console.log('analytics')</script>")
    else:
        toc = "".join(f"<li><a href=\"#s{i}\">Section {i}</a></li>" for i in range(1, 5))
        body_html = (f"<nav class=\"breadcrumb\"><a href=\"/\">Docs</a> &gt; <a href=\"/admin\">Admin</a> &gt; "
                     f"{html.escape(title)}</nav><div class=\"toc\"><ul>{toc}</ul></div><main>{main}</main>"
                     f"<div class=\"edit\">Edit this page on the wiki</div>{footer}")
    return f"<!DOCTYPE html><html lang=\"{lang}\">{head}<body>{body_html}</body></html>", text


def warc_record(kind: str, uri: str | None, block: bytes, content_type: str, extra: dict[str, str] | None = None,
                key: str = "") -> bytes:
    rid = hashlib.sha1(f"{kind}|{uri}|{key}".encode()).hexdigest()
    uuid = f"{rid[:8]}-{rid[8:12]}-{rid[12:16]}-{rid[16:20]}-{rid[20:32]}"
    headers = {"WARC-Type": kind, "WARC-Record-ID": f"<urn:uuid:{uuid}>", "WARC-Date": WARC_DATE}
    if uri:
        headers["WARC-Target-URI"] = uri
    headers.update(extra or {})
    headers["Content-Type"] = content_type
    headers["Content-Length"] = str(len(block))
    head = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    # one gzip member per record, as Common Crawl writes them (mtime 0: byte-identical rebuilds)
    return gzip.compress(head.encode() + block + b"\r\n\r\n", mtime=0)


def http_response(status: str, content_type: str, body: bytes, extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}"
            "Server: nginx\r\n\r\n").encode() + body


def build_web(ref: dict[str, list[dict]], rng: random.Random) -> None:
    sites = ["linuxnotes.example.org", "admin-tips.example.com", "debian-howto.example.net", "shellcraft.example.io"]
    picks = [("en", r) for r in ref["en"][:30]]
    picks += [(lang, r) for lang in ("de", "fr", "es", "ja", "zh", "ru") for r in ref[lang][:3]]
    pages_dir = HERE / "html" / "pages"
    pages_dir.mkdir(parents=True, exist_ok=True)
    for old in pages_dir.glob("*.html"):
        old.unlink()
    records = [warc_record("warcinfo", None, b"software: dataprep sample_data/build_llama.py\r\nformat: WARC File "
                           b"Format 1.1\r\n", "application/warc-fields", key="info")]
    truth = []
    for i, (lang, r) in enumerate(picks):
        template = TEMPLATES[i % 3]
        charset = "utf-8"
        if lang == "de" and i % 2 == 0:
            charset = "windows-1252"
        if lang == "ja" and i % 2 == 0:
            charset = "shift_jis"
        doc, text = page(r["title"], r["text"], template, lang, rng, charset)
        url = f"https://{sites[i % len(sites)]}/{lang}/{slug(r['title'])}"
        try:
            body = doc.encode(charset)
        except UnicodeEncodeError:
            charset = "utf-8"
            doc, text = page(r["title"], r["text"], template, lang, rng, charset)
            body = doc.encode("utf-8")
        ctype = f"text/html; charset={charset}" if charset != "shift_jis" else "text/html"  # Shift_JIS: <meta> only
        records.append(warc_record("request", url, f"GET /{lang}/{slug(r['title'])} HTTP/1.1\r\n\r\n".encode(),
                                   "application/http; msgtype=request", key=str(i)))
        records.append(warc_record("response", url, http_response("200 OK", ctype, body),
                                   "application/http; msgtype=response", key=str(i)))
        name = f"{i:03d}-{lang}-{slug(r['title'])[:40]}.html"
        write_atomic(pages_dir / name, body)
        truth.append({"file": name, "url": url, "lang": lang, "template": template, "text": text})
    # an exact copy of the first page under a mirror's URL
    first = picks[0][1]
    doc, _ = page(first["title"], first["text"], "blog", "en", random.Random(1))
    extra_pages = [
        ("https://mirror.example.com/copy-of-first", doc),
        ("https://en.wikipedia.org/wiki/Debian", page("Debian", ref["en"][10]["text"], "docs", "en", rng)[0]),
        ("https://www.freepornvideos.example/watch?v=1",
         page("Watch now", ref["en"][11]["text"], "news", "en", rng)[0]),
        ("https://hot-singles.example.net/live-chat",
         page("Meet people", ref["en"][12]["text"], "blog", "en", rng)[0]),
    ]
    for j, (url, doc) in enumerate(extra_pages):
        records.append(warc_record("response", url, http_response("200 OK", "text/html; charset=utf-8",
                                                                  doc.encode()), "application/http; msgtype=response",
                                   key=f"x{j}"))
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
    records.append(warc_record("response", "https://linuxnotes.example.org/logo.png",
                               http_response("200 OK", "image/png", png), "application/http; msgtype=response"))
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    records.append(warc_record("response", "https://admin-tips.example.com/guide.pdf",
                               http_response("200 OK", "application/pdf", pdf), "application/http; msgtype=response"))
    records.append(warc_record("response", "http://linuxnotes.example.org/old",
                               http_response("301 Moved Permanently", "text/html", b"",
                                             "Location: https://linuxnotes.example.org/new\r\n"),
                               "application/http; msgtype=response"))
    records.append(warc_record("response", "https://admin-tips.example.com/missing",
                               http_response("404 Not Found", "text/html",
                                             b"<html><body><h1>Not found</h1></body></html>"),
                               "application/http; msgtype=response"))
    records.append(warc_record("metadata", "https://linuxnotes.example.org/", b"fetchTimeMs: 120\r\n",
                               "application/warc-fields"))
    write_atomic(HERE / "warc" / "crawl-00000.warc.gz", b"".join(records))
    write_atomic(HERE / "html" / "truth.jsonl",
                 "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in truth).encode())


# ------------------------------------------------------------------------------------------------------------
# Wikipedia

LINK_WORDS = ["Debian", "Linux", "kernel", "shell", "package", "system", "file", "user", "command", "network"]


def wikify(title: str, body: str, rng: random.Random, lang: str) -> str:
    paras = paragraphs(body)
    lead = paras[0] if paras else title
    out = [
        "{{Short description|" + title + "}}",
        "{{Infobox software\n| name = " + title + "\n| logo = [[File:" + slug(title) + ".svg|120px|The "
        "{{nowrap|" + title + "}} logo]]\n| developer = [[Debian Project|The Debian Project]]\n| released = "
        "{{Start date and age|1993|08|16}}\n| license = {{plainlist|\n* [[GPL-2.0-or-later|GPL]]\n* other}}\n}}",
        f"'''{title}''' ({{{{lang|{lang}|{title}}}}}) — " + lead
        + '<ref name="ref1">{{cite web |url=https://www.debian.org/doc/ |title=Debian Reference '
          '{{!}} Debian |access-date=2024-01-01}}</ref>',
    ]
    for k, p in enumerate(paras[1:6]):
        if k == 1:
            out.append(f"== {rng.choice(['Overview', 'Usage', 'Details', 'Background'])} ==")
        if k == 3:
            out.append("=== Notes on use ===")
        if p.startswith("* "):
            out.append("\n".join("* " + line[2:] for line in p.split("\n")))
            continue
        for w in LINK_WORDS:
            if rng.random() < 0.5:
                p = re.sub(rf"\b{w}\b", f"[[{w}]]" if rng.random() < 0.5 else f"[[{w} (computing)|{w}]]", p, count=1)
        if rng.random() < 0.5:
            p += "<ref>{{cite book |title=Manual |year=2020 |publisher={{lang|fr|Éditions}} Libres}}</ref>"
        out.append(p.replace("\n", " ") + " <!-- editors: keep this paragraph short -->")
    out.append('{| class="wikitable"\n|+ Releases\n|-\n! Version !! Code name\n|-\n| 11 || bullseye\n|-\n'
               '| 12 || bookworm {{ref|a}}\n|-\n| nested || {| class="inner"\n| a || b\n|}\n|}')
    out.append("[[File:Screenshot.png|thumb|left|A screenshot of the [[desktop environment|desktop]]]]")
    out.append("== See also ==\n* [[Ubuntu]]\n* [[Linux distribution]]")
    out.append("== References ==\n{{Reflist}}")
    out.append("== External links ==\n* [https://www.debian.org Official website]")
    out.append(f"[[Category:{title}]]\n[[Category:Linux]]\n[[de:{title}]]\n[[fr:{title}]]")
    return "\n\n".join(out)


def build_wiki(ref: dict[str, list[dict]], rng: random.Random) -> None:
    pages = []
    pid = 100
    for lang in ("en", "de", "fr", "es"):
        for r in ref[lang][20:26]:
            pid += 1
            pages.append((pid, r["title"], 0, wikify(r["title"], r["text"], rng, lang), None))
    pages.append((900, "Debian GNU/Linux", 0, "#REDIRECT [[Debian]] {{R from alternative name}}", "Debian"))
    pages.append((901, "Root (disambiguation)", 0, "'''Root''' may refer to:\n* [[Root account]]\n* [[Root "
                  "directory]]\n\n{{Disambiguation}}", None))
    pages.append((902, "Talk:Debian", 1, "== Lead ==\nThe lead is too long. ~~~~", None))
    plain = ref["en"][30]
    pages.append((903, plain["title"], 0, plain["text"], None))
    lines = ['<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="en">',
             "  <siteinfo><sitename>Wikipedia</sitename><dbname>samplewiki</dbname></siteinfo>"]
    for pid, title, ns, text, redirect in pages:
        lines.append("  <page>")
        lines.append(f"    <title>{html.escape(title)}</title>\n    <ns>{ns}</ns>\n    <id>{pid}</id>")
        if redirect:
            lines.append(f'    <redirect title="{html.escape(redirect)}" />')
        lines.append(f"    <revision><id>{pid * 10}</id><timestamp>2024-02-0{pid % 9 + 1}T10:00:00Z</timestamp>"
                     f'<model>wikitext</model><format>text/x-wiki</format><text bytes="{len(text.encode())}" '
                     f'xml:space="preserve">{html.escape(text, quote=False)}</text></revision>')
        lines.append("  </page>")
    lines.append("</mediawiki>\n")
    write_atomic(HERE / "wiki" / "sample-pages-articles.xml.bz2", bz2.compress("\n".join(lines).encode()))


# ------------------------------------------------------------------------------------------------------------
# arXiv

PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage{amsmath,amssymb}
% Macros of the authors
\newcommand{\R}{\mathbb{R}}
\newcommand{\norm}[1]{\left\lVert #1 \right\rVert}
\newcommand\pkg[1]{\texttt{#1}}
\newcommand{\vect}[2][x]{(#1_1, \dots, #1_{#2})}
\def\eps{\varepsilon}
\DeclareMathOperator*{\argmin}{arg\,min}
% \newcommand{\unused}{THIS MUST NOT APPEAR}
\title{@TITLE@}
\author{A. Author \and B. Author}
\begin{document}
\maketitle
\begin{abstract}
@ABSTRACT@
\end{abstract}
"""


def latex_body(paras: list[str], rng: random.Random) -> str:
    out = []
    for k, p in enumerate(paras):
        p = p.replace("\n", " ").replace("%", r"\%").replace("&", r"\&").replace("#", r"\#").replace("_", r"\_")
        p = p.replace("$", r"\$").replace("{", r"\{").replace("}", r"\}")
        if k % 3 == 0:
            p += (r" For a vector $v \in \R^n$ with $\norm{v} < \eps$ we pick $\argmin_{w} \norm{v - w}$"
                  r" over $\vect{n}$.")
        if k % 4 == 1:
            p += r" The tool \pkg{apt} is used here. % TODO: cite the manual"
        out.append(p)
        if k % 3 == 2:
            out.append("\\begin{equation}\n  f(x) = \\sum_{i=1}^{n} \\frac{x_i^{2}}{\\lambda + \\eps} % main result\n"
                       "\\end{equation}")
    return "\n\n".join(out)


def paper_tex(title: str, paras: list[str], rng: random.Random, split: bool = False) -> dict[str, str]:
    abstract = paras[0].replace("\n", " ")[:400].replace("%", r"\%")
    head = PREAMBLE.replace("@TITLE@", title).replace("@ABSTRACT@", abstract)
    tail = ("\n\\bibliographystyle{plain}\n\\bibliography{refs}\n\n\\appendix\n\\section{Proofs}\nOmitted.\n"
            "\\end{document}\n")
    half = max(2, len(paras) // 2)
    s1 = "\\section{Introduction}\n" + latex_body(paras[1:half], rng)
    s2 = "\\section{Method}\n\\label{sec:method}\n" + latex_body(paras[half:], rng)
    if split:
        return {"main.tex": head + "\\input{sections/intro}\n\\include{sections/method.tex}\n" + tail,
                "sections/intro.tex": s1 + "\n", "sections/method.tex": s2 + "\n", "refs.bib": "@book{x, title={X}}\n"}
    return {"main.tex": head + s1 + "\n\n" + s2 + "\n" + tail}


def tar_bytes(files: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(files):
            data = files[name] if isinstance(files[name], bytes) else files[name].encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build_arxiv(ref: dict[str, list[dict]], rng: random.Random) -> None:
    out = HERE / "arxiv"
    en = ref["en"]
    docs = [paragraphs("\n\n".join(r["text"] for r in en[i:i + 2])) for i in range(34, 46, 2)]
    titles = [en[i]["title"] for i in range(34, 46, 2)]
    folder = paper_tex(titles[0], docs[0], rng, split=True)
    for name, text in folder.items():
        write_atomic(out / "2301.00001" / name, text.encode())
    single = paper_tex(titles[1] + " — étude", docs[1], rng)["main.tex"].replace("Method", "Méthode")
    write_atomic(out / "2301.00002.tex", single.encode("latin-1", errors="replace"))
    tgz = tar_bytes({"paper.tex": paper_tex(titles[2], docs[2], rng)["main.tex"]})
    write_atomic(out / "2301.00003.tar.gz", gzip.compress(tgz, mtime=0))
    no_section = ("\\documentclass{article}\n\\begin{document}\nA note with no sections at all: "
                  + docs[5][0].replace("\n", " ") + "\n\\end{document}\n")
    bulk = {
        "2302/2302.00004.gz": gzip.compress(paper_tex(titles[3], docs[3], rng)["main.tex"].encode(), mtime=0),
        "2302/2302.00005.gz": gzip.compress(tar_bytes(paper_tex(titles[4], docs[4], rng, split=True)), mtime=0),
        "2302/2302.00006.pdf": b"%PDF-1.4\n%%EOF\n",
        "2302/2302.00007.gz": gzip.compress(no_section.encode(), mtime=0),
    }
    write_atomic(out / "arXiv_src_2302_001.tar", tar_bytes(bulk))


# ------------------------------------------------------------------------------------------------------------
# StackExchange

THREADS = [
    ("How do I list the files a Debian package installed?", "<p>I installed <code>nginx</code> with apt. Where did "
     "its files go?</p>", ["<p>Use <code>dpkg -L</code>:</p>\n\n<pre><code>$ dpkg -L nginx | head\n/.\n/usr\n"
                           "/usr/sbin/nginx\n</code></pre>\n\n<p>It reads <code>/var/lib/dpkg/info/*.list</code>.</p>",
                           "<p>If the package is not installed yet, <code>apt-file list nginx</code> works "
                           "too (after <code>apt-file update</code>).</p>"], [42, 7]),
    ("Why does my shell loop stop after the first line?", "<p>This only prints one line:</p>\n\n<pre><code>while "
     "read -r host; do\n    ssh \"$host\" uptime\ndone &lt; hosts.txt\n</code></pre>",
     ["<p><code>ssh</code> reads standard input and eats the rest of the file. Use <code>ssh -n</code> or "
      "redirect:</p>\n\n<pre><code>while read -r host; do\n    ssh \"$host\" uptime &lt; /dev/null\ndone &lt; "
      "hosts.txt\n</code></pre>", "<p>Just use a for loop &mdash; it&#39;s easier.</p>",
      "<p>Works for me.</p>"], [88, -3, 0]),
    ("What does 2>&1 mean?", "<p>I see <code>cmd &gt; out.log 2&gt;&amp;1</code> everywhere. What is the "
     "order of redirections?</p>", ["<p>Redirections are applied <strong>left to right</strong>:</p>\n<ol>\n"
                                    "<li><code>&gt; out.log</code> points fd 1 at the file;</li>\n<li><code>2&gt;"
                                    "&amp;1</code> makes fd 2 a copy of fd 1.</li>\n</ol>\n<p>So both go to the file. "
                                    "Written the other way round, stderr still goes to the terminal.</p>"], [120]),
    ("Escaping a literal <div> in sed", "<p>How do I replace <code>&lt;div class=\"a\"&gt;</code> with "
     "sed? The &amp; character keeps appearing.</p>", ["<pre><code>sed 's/&lt;div class=\"a\"&gt;/"
                                                      "\\&amp;lt;div&amp;gt;/' page.html\n</code></pre>\n"
                                                      "<p>In the replacement, "
                                                      "<code>&amp;</code> means the match; escape it as <code>\\&amp;"
                                                      "</code>. See <a href=\"https://www.gnu.org/software/sed/manual/\">"
                                                      "the manual</a>.</p>"], [15]),
]


def build_stackexchange(ref: dict[str, list[dict]], rng: random.Random) -> None:
    rows = []
    pid = 1
    tagsets = ["<debian><apt>", "<bash><shell>", "<linux><io-redirection>", "<sed><regular-expression>"]
    for k, (title, body, answers, scores) in enumerate(THREADS):
        q = pid
        rows.append({"Id": q, "PostTypeId": 1, "Score": rng.randint(3, 60), "Title": title, "Body": body,
                     "Tags": tagsets[k], "CreationDate": f"2015-0{k + 1}-10T08:00:00.000"})
        question = rows[-1]
        pid += 1
        for a, s in zip(answers, scores, strict=True):
            rows.append({"Id": pid, "PostTypeId": 2, "ParentId": q, "Score": s, "Body": a,
                         "CreationDate": f"2015-0{k + 1}-11T08:00:00.000"})
            if s == max(scores):
                question["AcceptedAnswerId"] = pid
            pid += 1
    for r in ref["en"][46:62]:
        paras = [p.replace("\n", " ") for p in paragraphs(r["text"])]
        if len(paras) < 3:
            continue
        q = pid
        body = f"<p>I am reading about {html.escape(r['title'].lower())}.</p>\n<p>{html.escape(paras[1])}</p>\n" \
               "<p>Is this still the recommended way?</p>"
        rows.append({"Id": q, "PostTypeId": 1, "Score": rng.randint(-2, 30), "Title": f"{r['title']}: how does it "
                     "work?", "Body": body, "Tags": "|debian|system-administration|",
                     "CreationDate": "2019-05-01T10:00:00.000"})
        pid += 1
        for p in paras[2:5]:
            rows.append({"Id": pid, "PostTypeId": 2, "ParentId": q, "Score": rng.randint(-3, 25),
                         "Body": f"<p>{html.escape(p)}</p>", "CreationDate": "2019-05-02T10:00:00.000"})
            pid += 1
    rows.append({"Id": pid, "PostTypeId": 2, "ParentId": 99999, "Score": 2, "Body": "<p>An answer whose question "
                 "was deleted.</p>"})
    rows.append({"Id": pid + 1, "PostTypeId": 4, "Score": 0, "Body": "Bash is the GNU shell."})
    rows.append({"Id": pid + 2, "PostTypeId": 5, "Score": 0, "Body": "<p>The <strong>bash</strong> tag wiki.</p>"})
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<posts>"]
    for r in rows:
        # the dump writes line breaks in attributes as &#xA; (a parser turns a raw one into a space)
        attrs = " ".join(f'{k}="{html.escape(str(v), quote=True).replace(chr(10), "&#xA;")}"' for k, v in r.items())
        lines.append(f"  <row {attrs} />")
    lines.append("</posts>\n")
    write_atomic(HERE / "stackexchange" / "unix.stackexchange.com" / "Posts.xml", "\n".join(lines).encode())


# ------------------------------------------------------------------------------------------------------------
# books

GUTENBERG_HEAD = """The Project Gutenberg eBook of {title}

This ebook is for the use of anyone anywhere in the United States and most other parts of the world at no cost
and with almost no restrictions whatsoever. You may copy it, give it away or re-use it under the terms of the
Project Gutenberg License included with this ebook or online at www.gutenberg.org.

Title: {title}
Author: Debian Documentation Project
Release date: January 1, 2024 [eBook #{num}]
Language: {lang}

*** START OF THE PROJECT GUTENBERG EBOOK {upper} ***

"""
GUTENBERG_FOOT = """

*** END OF THE PROJECT GUTENBERG EBOOK {upper} ***

Updated editions will replace the previous one—the old editions will be renamed.

Creating the works from print editions not protected by U.S. copyright law means that no one owns a United
States copyright in these works, so the Foundation (and you!) can copy and distribute it in the United States
without permission and without paying copyright royalties. START: FULL LICENSE
"""


def book_text(chapters: list[dict]) -> str:
    return "\n\n\n".join(f"CHAPTER {i + 1}. {c['title'].upper()}\n\n{c['text']}" for i, c in enumerate(chapters))


def build_books(ref: dict[str, list[dict]], rng: random.Random) -> None:
    out = HERE / "books"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.txt"):
        old.unlink()
    books = {}
    for lang in ("en", "de", "fr", "es"):
        books[f"{lang}-handbook"] = (ref[lang][:10], lang)
    books["en-admin-guide"] = (ref["en"][10:20], "en")
    for n, (name, (chapters, lang)) in enumerate(sorted(books.items())):
        text = book_text(chapters)
        if n % 2 == 0:
            title = chapters[0]["title"]
            text = GUTENBERG_HEAD.format(title=title, num=70000 + n, lang=lang, upper=title.upper()) + text \
                + GUTENBERG_FOOT.format(upper=title.upper())
        write_atomic(out / f"{name}.txt", text.encode())
    # another printing of en-handbook: a transcriber's note and a few words changed (about 99% shingle overlap)
    words = book_text(books["en-handbook"][0]).split(" ")
    for i in rng.sample(range(len(words)), k=len(words) // 400):
        words[i] = words[i].upper()
    write_atomic(out / "en-handbook-reprint.txt", ("Transcriber's note: obvious typographical errors corrected.\n\n"
                                                   + " ".join(words)).encode())
    # a revised edition: half the chapters replaced (well under 90% overlap: kept)
    revised = books["en-handbook"][0][:5] + ref["en"][20:25]
    write_atomic(out / "en-handbook-2nd-edition.txt", book_text(revised).encode())


def main() -> None:
    ref = load_reference()
    build_web(ref, random.Random(SEED))
    build_wiki(ref, random.Random(SEED + 1))
    build_arxiv(ref, random.Random(SEED + 2))
    build_stackexchange(ref, random.Random(SEED + 3))
    build_books(ref, random.Random(SEED + 4))


if __name__ == "__main__":
    main()
