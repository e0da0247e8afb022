"""PII redaction: e-mail addresses, IPv4 and IPv6 addresses, phone numbers (international, North American and
Chinese mobile), Chinese resident identity numbers (with their checksum) and payment card numbers (with the
Luhn check), each replaced by a typed placeholder.

Precision first: patterns require clean boundaries (no digit, letter or dot glued on either side), card numbers
must start with an issuer prefix and pass Luhn, identity numbers must carry a valid birth date and check
character, IPv6 needs a digit and either eight groups or one ``::``. Version strings (``1.2.3.4`` after
``v`` or ``version``), dates, hashes and ordinary numbers are left alone; ``PII_CASES`` in
``tests/filters/test_filters.py`` lists the look-alikes. Candidates are found and validated vectorized
(polars); the final replacement of validated checksum matches is a string replace on the few documents that
have one.

Only addresses that can point at a person are redacted. An IP address is redacted when the standard
library's :mod:`ipaddress` says it is globally routable (``is_global``) and it is not multicast; private
(RFC 1918, ``fc00::/7``), loopback, link-local, shared (``100.64.0.0/10``), documentation (``192.0.2.0/24``,
``2001:db8::/32``), reserved and unspecified addresses stay, as do the public DNS resolvers StarCoder keeps
(``PUBLIC_RESOLVERS``): they are configuration examples on technical pages, not personal data. This is
datatrove's rule (``PIIFormatter(only_remove_public_ips=True)``: ``ipaddress.ip_address(ip).is_global``) and
StarCoder's (bigcode-dataset ``pii/pii_redaction.py``: skip ``is_private`` and popular DNS servers). The
stdlib's special-purpose tables follow the IANA registries (RFC 6890) and are the same for every worker of a
run; Python releases have refined them (3.12.4 and 3.13 moved a few rarely seen ranges), so pin Python for
byte-identical output across machines.

E-mail local parts are RFC 5322 dot-atoms over letters, digits and ``_%+-``: an address may start with ``_``
(``_admin@example.org``), and a leading, trailing or doubled dot is not part of one (``.a@x.org`` redacts
``a@x.org``, as datatrove's test expects). ``tests/peers/pii_datatrove.json`` holds datatrove's cases.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re

import polars as pl

from dataprep.registry import register
from dataprep.step import Step

# Rust regex has no look-around: boundaries are groups 1 and 3 around the match (group 2), put back on replace
PATTERNS: dict[str, str] = {
    # local part: a dot-atom over letters, digits and "_%+-" (so "_" may open it); domain: labels, a letter TLD
    "EMAIL": (r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
              r"(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b"),
    "IP_ADDRESS": (r"(^|[^\w.])((?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})"
                   r"($|[^\w.]|\.(?:$|\s))"),
    "PHONE": (r"(^|[^\w+.-])((?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}"
              r"|\+\d{1,3}[ .-]?\d{6,12}|(?:\+?86[ -]?)?1[3-9]\d{9})($|[^\w.-]|\.(?:$|\s))"),
}
#: dotted quads that are versions, not addresses: "v1.2.3.4", "version 10.0.0.1"
_VERSION_IP_RE = r"(?i)(?:\bv|\bversion\s?|\brelease\s?|\bkernel\s?)(\d+(?:\.\d+){3})"
_IPV6_RE = (r"(?i)(^|[^\w:])((?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:){1,6}(?::[0-9a-f]{1,4}){1,6}"
            r"|(?:[0-9a-f]{1,4}:){1,7}:|::(?:[0-9a-f]{1,4}:){0,6}[0-9a-f]{1,4})($|[^\w:])")
_CN_ID_RE = (r"(^|[^\w])([1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx])($|[^\w])")
_CARD_RE = (r"(^|[^\w.-])((?:4\d{3}|5[1-5]\d{2}|2[2-7]\d{2}|3[47]\d{2}|35\d{2}|6011|65\d{2}|62\d{2})"
            r"(?:[ -]?\d{4}){2}[ -]?\d{1,4}(?:[ -]?\d{1,3})?)($|[^\w.-]|\.(?:$|\s))")
#: public DNS resolvers StarCoder leaves in clear (bigcode-dataset ``pii/pii_redaction.py``, POPULAR_DNS_SERVERS:
#: Google, Cloudflare, Alternate DNS, Quad9, OpenDNS, Comodo, AdGuard): service addresses, not personal data
PUBLIC_RESOLVERS = frozenset({
    "8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "76.76.19.19", "76.223.122.150", "9.9.9.9", "149.112.112.112",
    "208.67.222.222", "208.67.220.220", "8.26.56.26", "8.20.247.20", "94.140.14.14", "94.140.15.15"})
TYPES = ("EMAIL", "IP_ADDRESS", "PHONE", "ID_NUMBER", "CARD_NUMBER")
_CN_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CN_ID_CHECK = "10X98765432"


def _digits(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace_all(r"\D", "").str.split("").list.eval(pl.element().cast(pl.Int64))


def luhn_valid(expr: pl.Expr) -> pl.Expr:
    """Luhn checksum (ISO/IEC 7812-1) of the digits in each string, vectorized."""
    rev = _digits(expr).list.reverse()
    doubled = rev.list.eval(
        pl.when(pl.int_range(pl.len()) % 2 == 1)
        .then(pl.when(pl.element() * 2 > 9).then(pl.element() * 2 - 9).otherwise(pl.element() * 2))
        .otherwise(pl.element()))
    n = expr.str.replace_all(r"\D", "").str.len_chars()
    return (doubled.list.sum() % 10 == 0) & n.is_between(13, 19)


def cn_id_valid(expr: pl.Expr) -> pl.Expr:
    """GB 11643-1999 check character of an 18-character Chinese resident identity number, vectorized."""
    total = pl.sum_horizontal([expr.str.slice(i, 1).cast(pl.Int64, strict=False) * w
                               for i, w in enumerate(_CN_ID_WEIGHTS)])
    expected = (total % 11).replace_strict({i: c for i, c in enumerate(_CN_ID_CHECK)}, return_dtype=pl.String)
    return expected == expr.str.slice(17, 1).str.to_uppercase()


def personal_ip(address: str) -> bool:
    """Whether an IP address may point at a person: valid, globally routable (:mod:`ipaddress`'s
    ``is_global``), not multicast and not one of ``PUBLIC_RESOLVERS``."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_global and not ip.is_multicast and address not in PUBLIC_RESOLVERS


def _personal(found: pl.DataFrame) -> pl.DataFrame:
    """The candidate rows (``doc``, ``m``) whose address :func:`personal_ip` redacts; each distinct address of
    the batch is checked once."""
    if not found.height:
        return found
    keep = [m for m in found.get_column("m").unique().sort().to_list() if personal_ip(m)]
    return found.filter(pl.col("m").is_in(pl.Series(keep, dtype=pl.String).implode()))


def _validated(df: pl.DataFrame, regex: str, check: pl.Expr) -> pl.DataFrame:
    """(doc, match) of every candidate of ``regex`` (group 2) in ``df.text`` that passes ``check`` (on ``m``)."""
    cands = (
        df.select(pl.col("text").str.extract_all(regex).alias("m")).with_row_index("doc")
        .explode("m").drop_nulls("m")
        .with_columns(pl.col("m").str.extract(regex, 2))
    )
    return cands.filter(check.fill_null(False)) if cands.height else cands


@register
@dataclasses.dataclass
class PIIRedactor(Step):
    """Replace personal data with typed placeholders (``<EMAIL>``, ``<IP_ADDRESS>``, ``<PHONE>``,
    ``<ID_NUMBER>``, ``<CARD_NUMBER>``); a mapper, it drops nothing.

    Sources: the patterns follow BigScience's PII pipeline for ROOTS (Laurençon et al. 2022, appendix: e-mail
    and IP regexes, with version-number exclusions) and StarCoder's (Li et al. 2023, section 4: e-mails,
    IP addresses); the card check is Luhn (ISO/IEC 7812-1) on issuer prefixes; the identity number check is
    GB 11643-1999. IP addresses that are private, loopback, link-local, documentation, reserved, multicast or
    public DNS resolvers stay in clear (datatrove's and StarCoder's rule, see the module docstring). Adds
    ``pii_count``; counters per type.
    """

    name = "pii"
    types: list[str] = dataclasses.field(default_factory=lambda: list(TYPES))
    placeholder: str = dataclasses.field(default="<{type}>", metadata={"help": "format with {type}"})

    def __post_init__(self) -> None:
        bad = [t for t in self.types if t not in TYPES]
        if bad:
            raise ValueError(f"unknown PII type(s) {', '.join(bad)}: types are {', '.join(TYPES)}")

    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        out = df.select("text").with_row_index("doc")
        counts: dict[str, pl.Series] = {}

        def exact_replace(frame: pl.DataFrame, found: pl.DataFrame, kind: str, key: str | None = None
                          ) -> pl.DataFrame:
            counts[key or kind] = (pl.DataFrame({"doc": frame.get_column("doc")})
                            .join(found.group_by("doc").len(), on="doc", how="left", maintain_order="left")
                            .get_column("len").fill_null(0))
            if not found.height:
                return frame
            token = self.placeholder.format(type=kind)
            texts = frame.get_column("text").to_list()
            for doc, matches in found.group_by("doc").agg(pl.col("m").unique()).iter_rows():
                for m in sorted(matches, key=len, reverse=True):
                    if kind == "IP_ADDRESS":  # only where it stands alone: "172.16.5.40" holds "72.16.5.4"
                        texts[doc] = re.sub(rf"(?<![\w.:]){re.escape(m)}(?![\w:]|\.\w)", lambda _: token,
                                            texts[doc])
                    else:
                        texts[doc] = texts[doc].replace(m, token)
            return frame.with_columns(pl.Series("text", texts, pl.String))

        def regex_replace(frame: pl.DataFrame, kind: str, regex: str, groups: bool) -> pl.DataFrame:
            token = self.placeholder.format(type=kind).replace("$", "$$")
            counts[kind] = frame.select(pl.col("text").str.count_matches(regex)).to_series()
            repl = f"${{1}}{token}${{3}}" if groups else token
            # a match's trailing context can be the next match's leading context: apply twice
            once = frame.with_columns(pl.col("text").str.replace_all(regex, repl))
            return once.with_columns(pl.col("text").str.replace_all(regex, repl))

        if "EMAIL" in self.types:
            out = regex_replace(out, "EMAIL", PATTERNS["EMAIL"], groups=False)
        if "CARD_NUMBER" in self.types:
            out = exact_replace(out, _validated(out, _CARD_RE, luhn_valid(pl.col("m"))), "CARD_NUMBER")
        if "ID_NUMBER" in self.types:
            out = exact_replace(out, _validated(out, _CN_ID_RE, cn_id_valid(pl.col("m"))), "ID_NUMBER")
        if "IP_ADDRESS" in self.types:
            v4 = _validated(out, PATTERNS["IP_ADDRESS"], pl.lit(True))
            versions = (out.select(pl.col("text").str.extract_all(_VERSION_IP_RE).alias("m")).with_row_index("doc")
                        .explode("m").drop_nulls("m").with_columns(pl.col("m").str.extract(_VERSION_IP_RE, 1)))
            out = exact_replace(out, _personal(v4.join(versions, on=["doc", "m"], how="anti")), "IP_ADDRESS")
            v6 = _validated(out, _IPV6_RE, pl.col("m").str.contains(r"\d")
                            & (pl.col("m").str.contains("::", literal=True) | (pl.col("m").str.count_matches(":") == 7))
                            & (pl.col("m").str.count_matches("::") <= 1))
            out = exact_replace(out, _personal(v6), "IP_ADDRESS", key="_IPV6")
            counts["IP_ADDRESS"] = counts["IP_ADDRESS"] + counts.pop("_IPV6")
        if "PHONE" in self.types:
            out = regex_replace(out, "PHONE", PATTERNS["PHONE"], groups=True)
        total = pl.Series("pii_count", [0] * df.height, pl.UInt32)
        columns = {}
        for kind in TYPES:
            if kind in counts:
                s = counts[kind].cast(pl.UInt32)
                total = total + s
                columns[f"_pii_{kind}"] = s
        return df.with_columns(out.get_column("text"), total.alias("pii_count"), **columns)

    def counters(self, annotated: pl.DataFrame) -> dict[str, int]:
        cols = [c for c in annotated.columns if c.startswith("_pii_")]
        if not cols or not annotated.height:
            return {c[5:].lower(): 0 for c in cols}
        sums = annotated.select([pl.col(c).sum() for c in cols]).row(0)
        return {c[5:].lower(): int(v or 0) for c, v in zip(cols, sums, strict=True)}
