"""The classifier's prefilter: fast, and never losing a line a signature would match."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from rowatch.classify import Classifier, MultiSearcher, word_trie
from rowatch.signatures import SIGNATURES

CLASSIFIER = Classifier()

# Bytes that make up the prefilter's words, so random buffers actually contain matches.
ALPHABET = st.sampled_from(
    [
        b"EXT4-fs",
        b"XFS",
        b"error, dev ",
        b": [sda]",
        b"task abort",
        b"x",
        b" ",
        b"\n",
        b"I/O error",
        b"_abort called",
        b"E",
        b":",
    ]
)


def test_every_example_passes_the_prefilter_in_both_forms() -> None:
    for signature in SIGNATURES:
        assert CLASSIFIER.candidate(signature.example), signature.name
        assert CLASSIFIER.prefilter_bytes.search(signature.example.encode()), signature.name


def test_word_trie_matches_exactly_the_words() -> None:
    words = ["EXT", "EXT4-fs", "XFS", "XFS (", "I/O error"]
    pattern = re.compile(f"^(?:{word_trie(words)})$")
    for word in words:
        assert pattern.match(word)
    for other in ["EX", "EXT4", "XF", "I/O", "XFS(", ""]:
        assert not pattern.match(other), other


@settings(max_examples=300)
@given(st.lists(ALPHABET, max_size=60).map(b"".join), st.lists(st.integers(0, 400), max_size=8))
def test_multi_searcher_finds_what_the_combined_pattern_finds(
    buffer: bytes, positions: list[int]
) -> None:
    searcher = CLASSIFIER.prefilter_scanner
    combined = CLASSIFIER.prefilter_bytes
    # In increasing order, as a scanner walks a buffer, and then out of order.
    for wanted in [*sorted(positions), *positions]:
        pos = min(wanted, len(buffer))
        mine = searcher.search(buffer, pos)
        theirs = combined.search(buffer, pos)
        assert (mine is None) == (theirs is None)
        if mine is not None and theirs is not None:
            assert mine.start() == theirs.start()


def test_multi_searcher_forgets_a_different_buffer() -> None:
    searcher = MultiSearcher([re.compile(b"abc")])
    first = searcher.search(b"xxabc")
    assert first is not None and first.start() == 2
    assert searcher.search(b"abcxx") is not None
    assert searcher.search(b"zzzzz") is None
