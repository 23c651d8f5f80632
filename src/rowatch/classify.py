"""Match one message against the signature table."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, AnyStr, Generic

from rowatch.signatures import (
    PREFILTER_CAPITALIZED,
    PREFILTER_PATTERNS,
    SIGNATURES,
    Signature,
)


@dataclass(frozen=True, slots=True)
class Match:
    """A message recognised by a signature, with the pattern's named groups."""

    signature: Signature
    groups: dict[str, str]


def word_trie(words: Iterable[str]) -> str:
    """One regex for a set of literal words, with common prefixes factored out.

    ``re`` tries alternatives one after another; a trie makes it compare each character
    once per level instead of once per word.
    """
    root: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:  # type: ignore[type-arg]
        ends = "" in node
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:
            return f"(?:{body})?"
        return body

    return emit(root)


class MultiSearcher(Generic[AnyStr]):
    """Finds the first match of any of several patterns, each scanning on its own.

    Several fast scans beat one slow alternation (see ``signatures.PREFILTER_PATTERNS``).
    Called again on the same buffer with a later ``pos``, it reuses what each pattern
    already found, so a whole buffer costs each pattern one pass, not one per match.
    """

    def __init__(self, patterns: Sequence[re.Pattern[AnyStr]]) -> None:
        self.patterns: tuple[re.Pattern[AnyStr], ...] = tuple(patterns)
        self._buffer: AnyStr | None = None
        self._endpos = -1
        self._found: list[tuple[int, re.Match[AnyStr] | None]] = []

    def search(
        self, string: AnyStr, pos: int = 0, endpos: int | None = None
    ) -> re.Match[AnyStr] | None:
        end = len(string) if endpos is None else endpos
        if string is not self._buffer or end != self._endpos:
            self._buffer, self._endpos = string, end
            self._found = [(-1, None)] * len(self.patterns)
        best: re.Match[AnyStr] | None = None
        for index, pattern in enumerate(self.patterns):
            searched_from, found = self._found[index]
            # A search from at or before pos whose match (if any) lies at or after pos
            # already says where this pattern matches next.
            if (
                searched_from < 0
                or searched_from > pos
                or (found is not None and found.start() < pos)
            ):
                found = pattern.search(string, pos, end)
                self._found[index] = (pos, found)
            if found is not None and (best is None or found.start() < best.start()):
                best = found
        return best


class Classifier:
    """Recognises messages by the signature table.

    Most kernel messages are irrelevant, so a message is first checked against the
    prefilter (``signatures.PREFILTER_*``); only a message that passes is tried against the
    signatures whose ``needle`` it contains, in table order, and the first that matches wins.
    """

    def __init__(
        self,
        signatures: Iterable[Signature] = SIGNATURES,
        capitalized: Iterable[str] = PREFILTER_CAPITALIZED,
        patterns: Iterable[str] = PREFILTER_PATTERNS,
    ) -> None:
        self.signatures = tuple(signatures)
        sources = [word_trie(capitalized), *patterns]
        #: One pattern with every prefilter alternative: what RE2 or grep would scan with.
        self.prefilter_source = "|".join(f"(?:{s})" for s in sources)
        self.prefilter_bytes = re.compile(self.prefilter_source.encode())
        #: The same, as separate scans: what Python's ``re`` is fast at.
        self.prefilter = MultiSearcher([re.compile(s) for s in sources])
        self.prefilter_scanner = MultiSearcher([re.compile(s.encode()) for s in sources])
        # Per program, in table order, what the loop below needs and nothing to look up:
        # classify() runs for every candidate record, tens of thousands a second in a flood.
        self._table: dict[str, tuple[tuple[str, Any, Signature], ...]] = {}
        for program in dict.fromkeys(s.program for s in self.signatures):
            self._table[program] = tuple(
                (s.needle, s.regex.search, s) for s in self.signatures if s.program == program
            )

    def candidate(self, message: str) -> bool:
        """True if the message may be relevant (it passes the prefilter)."""
        return any(p.search(message) is not None for p in self.prefilter.patterns)

    def classify(self, message: str, program: str = "kernel") -> Match | None:
        """Return the first signature that recognises ``message``, or None."""
        if not self.candidate(message):
            return None
        for needle, search, signature in self._table.get(program, ()):
            if needle in message:
                found = search(message)
                if found is not None:
                    groups = {k: v for k, v in found.groupdict().items() if v is not None}
                    return Match(signature, groups)
        return None
