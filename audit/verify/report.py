"""What `audit verify` reports: each difference at its leaf index, and the report of a whole run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# The order of differences at one index: as one pass over the whole log finds them (what the log holds
# overall, then each entry, then the tree's nodes a level at a time, then the heads), however its chunks
# were checked.
FIRST, ENTRIES, NODES, HEADS = 0, 1, 2, 200


@dataclass(frozen=True, slots=True)
class Difference:
    """One way the stored log differs from what its entries say, at leaf `index` (= seq - 1)."""

    index: int
    kind: str
    detail: str
    rank: int = field(default=ENTRIES, compare=False, repr=False)  # its order among those at the same index

    def as_dict(self) -> dict[str, Any]:
        """Return the difference as JSON-ready data."""
        return {"index": self.index, "seq": self.index + 1, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True)
class Report:
    """What `verify_log` checked, and the differences it found (the first `limit`, by index)."""

    entries: int
    tree_size: int
    heads: int
    differences: tuple[Difference, ...]
    total_differences: int

    @property
    def ok(self) -> bool:
        """Return whether nothing differed."""
        return self.total_differences == 0

    @property
    def first(self) -> Difference | None:
        """Return the difference at the lowest index, or None when the log is intact."""
        return self.differences[0] if self.differences else None


@dataclass
class Findings:
    """The differences found so far: all counted, the first `limit` by index kept."""

    limit: int
    found: list[Difference] = field(default_factory=list)
    total: int = 0

    def add(self, index: int, kind: str, detail: str, rank: int = ENTRIES) -> None:
        """Note one difference."""
        self.total += 1
        self.found.append(Difference(index, kind, detail, rank))
        if len(self.found) > 4 * self.limit:
            self._trim()

    def merge(self, found: Sequence[Difference], total: int) -> None:
        """Take in the differences another check found (`total` of them, `found` the first few)."""
        self.found.extend(found)
        self.total += total
        self._trim()

    def _trim(self) -> None:
        self.found = sorted(self.found, key=lambda d: (d.index, d.rank))[: self.limit]

    def result(self) -> tuple[Difference, ...]:
        """Return the first `limit` differences, by index."""
        self._trim()
        return tuple(self.found)


def note_missing(findings: Findings, start: int, end: int, counter: int) -> None:
    """Record that the entries of leaves [start, end) are not there."""
    if start < min(end, counter):
        findings.add(start, "deleted", f"entries {start + 1} to {min(end, counter)} are missing")
    if max(start, counter) < end:
        first = max(start, counter)
        findings.add(first, "tree", f"the tree or a head covers leaves {first} to {end - 1}, which no entry "
                                    f"was numbered for (the counter is at {counter})")


def note_node_differs(findings: Findings, level: int, position: int, missing: bool) -> None:
    """Record that stored node (level, position) is missing or differs from the rebuild."""
    start, end = position << level, ((position + 1) << level) - 1
    what = "is missing" if missing else "differs from the rebuild"
    findings.add(start, "tree", f"stored tree node ({level}, {position}) over leaves {start} to {end} {what}",
                 NODES + level if level else ENTRIES)
