"""Match one message against the signature table."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rowatch.signatures import SIGNATURES, Signature


@dataclass(frozen=True, slots=True)
class Match:
    """A message recognised by a signature, with the pattern's named groups."""

    signature: Signature
    groups: dict[str, str]


class Classifier:
    """Recognises messages by the signature table.

    Most kernel messages are irrelevant, so a message is first checked against one combined
    pattern of every signature's ``needle``; only a message that contains one is tried
    against the full patterns, in table order, and the first that matches wins.
    """

    def __init__(self, signatures: Iterable[Signature] = SIGNATURES) -> None:
        self.signatures = tuple(signatures)
        needles = sorted({s.needle for s in self.signatures}, key=len, reverse=True)
        #: Matches any message that could be relevant. Sources may run it over whole
        #: buffers to skip irrelevant lines before parsing them.
        self.prefilter = re.compile("|".join(re.escape(n) for n in needles))
        self.prefilter_bytes = re.compile(self.prefilter.pattern.encode())

    def classify(self, message: str, program: str = "kernel") -> Match | None:
        """Return the first signature that recognises ``message``, or None."""
        if self.prefilter.search(message) is None:
            return None
        for signature in self.signatures:
            if signature.program != program or signature.needle not in message:
                continue
            found = signature.regex.search(message)
            if found is not None:
                groups = {k: v for k, v in found.groupdict().items() if v is not None}
                return Match(signature, groups)
        return None
