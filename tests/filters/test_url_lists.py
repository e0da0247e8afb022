"""url_filter's domain lists: the sorted-list binary search agrees with a plain set lookup of every parent
domain, on a list the size of a real block-list file, with comments, blank lines, case and dots as UT1 files
have them."""

from __future__ import annotations

import json
import random

import polars as pl

from filters import URLFilter
from filters.url import MAX_LABELS


def _reference(host: str | None, domains: set[str]) -> bool:
    if not host:
        return False
    labels = host.split(".")
    return any(".".join(labels[i:]) in domains for i in range(max(0, len(labels) - MAX_LABELS), len(labels)))


def test_block_list_matches_parent_domains_like_a_set(tmp_path):
    rng = random.Random(7)
    words = ["shop", "news", "cdn", "www", "a", "b", "x1", "blog", "mail", "media"]
    tlds = ["com", "net", "org", "cn", "co.uk"]
    listed = {f"{rng.choice(words)}{i}.{rng.choice(tlds)}" for i in range(50_000)}
    lines = ["# UT1 adult list", ""] + [d.upper() if i % 7 == 0 else d for i, d in enumerate(sorted(listed))]
    lines += [" shop1.com ", "shop1.com"]  # padding and a repeat, as merged lists have
    path = tmp_path / "domains"
    path.write_text("\n".join(lines) + "\n")
    listed_lower = {d.lower() for d in listed} | {"shop1.com"}
    pool = sorted(listed_lower)
    hosts: list[str | None] = [None, "", "com", "shop1.com.evil.org"]
    for _ in range(3000):
        kind = rng.random()
        if kind < 0.3:
            hosts.append(rng.choice(pool))
        elif kind < 0.6:
            hosts.append(f"{rng.choice(words)}.{rng.choice(words)}.{rng.choice(pool)}")
        else:
            hosts.append(f"{rng.choice(words)}{rng.randrange(60_000)}.{rng.choice(tlds)}")
    meta = [None if h is None else (json.dumps({"url": f"https://{h}/page"}) if h else "{}") for h in hosts]
    df = pl.DataFrame({"id": [str(i) for i in range(len(hosts))], "text": ["x"] * len(hosts), "meta": meta})
    step = URLFilter(blocklist_file=str(path), exclude_domains=[])
    got = step.annotate_polars(df).get_column("_blocked").to_list()
    want = [_reference(h, listed_lower) for h in hosts]
    assert got == want
    assert sum(want) > 1000  # both matches and misses are exercised
    kept, rejected = step.split(df)
    assert kept.height + rejected.height == df.height
    assert set(rejected.get_column("reason")) == {"blocked_domain"}


def test_empty_and_comment_only_lists(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("")
    comments = tmp_path / "comments"
    comments.write_text("# nothing\n\n")
    df = pl.DataFrame({"id": ["1"], "text": ["x"], "meta": ['{"url": "https://example.com/"}']})
    for path in (empty, comments):
        kept, rejected = URLFilter(blocklist_file=str(path)).split(df)
        assert (kept.height, rejected.height) == (1, 0)
