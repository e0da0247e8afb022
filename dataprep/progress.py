"""Progress of long commands on stderr: a live bar with rate and ETA on a terminal, a plain log line every few
seconds otherwise (logs of batch jobs stay readable)."""

from __future__ import annotations

import sys
import time


class Progress:
    """``update(items=1, count=n)`` after each unit of work (a file, a shard); ``total`` units are expected
    (0: unknown, no ETA). ``count`` accumulates what the rate is reported in (documents, tokens)."""

    def __init__(self, total: int, label: str, quiet: bool = False, unit: str = "files", counted: str = "docs",
                 every: float = 5.0) -> None:
        self.total, self.label, self.quiet, self.unit, self.counted = total, label, quiet, unit, counted
        self.done = 0
        self.count = 0
        self.start = time.monotonic()
        self.last = 0.0
        self.every = every
        self.tty = sys.stderr.isatty()

    def update(self, count: int = 0, items: int = 1) -> None:
        self.done += items
        self.count += count
        now = time.monotonic()
        finished = bool(self.total) and self.done >= self.total
        if self.quiet or (not self.tty and now - self.last < self.every and not finished):
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        rate = self.count / elapsed
        of = f"/{self.total}" if self.total else ""
        eta = f", ETA {elapsed / self.done * (self.total - self.done):.0f}s" if self.total and self.done else ""
        msg = (f"{self.label}: {self.done}{of} {self.unit}, {self.count:,} {self.counted}, "
               f"{rate:,.0f} {self.counted}/s{eta}")
        if self.tty:
            bar = ""
            if self.total:
                filled = int(20 * min(self.done / self.total, 1))
                bar = "[" + "#" * filled + "." * (20 - filled) + "] "
            sys.stderr.write(f"\r\033[K{bar}{msg}" + ("\n" if finished else ""))
        else:
            sys.stderr.write(msg + "\n")
        sys.stderr.flush()
