"""Text edits in code points from pycrdt's deltas in UTF-8 bytes (supernode/text_edits.py), checked against
random edits of real pycrdt texts with non-ASCII characters and emoji."""

from __future__ import annotations

import random

import pytest
from pycrdt import Doc, Text

from rtc_client.text import apply_edits
from supernode.text_edits import TextMirror

ALPHABET = "ab\n é中😀"


def _random_text(rng: random.Random, most: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, most)))


@pytest.mark.parametrize("whole", [True, False], ids=["source", "stream"])
def test_edits_applied_to_the_old_text_give_the_new_one(whole: bool):
    rng = random.Random(7)
    for _ in range(200):
        doc = Doc()
        text = doc.get("t", type=Text)
        text += _random_text(rng, 20)
        mirror = TextMirror(str(text), whole=whole)
        changes: list = []
        text.observe(_recorder(changes, mirror))
        copy = str(text)
        for _ in range(10):
            before = str(text)
            with doc.transaction():
                if whole:  # anywhere, as someone typing
                    i = rng.randint(0, len(before))
                    j = rng.randint(i, len(before))
                    start, end = len(before[:i].encode()), len(before[:j].encode())
                    if end > start:
                        del text[start:end]
                    inserted = _random_text(rng, 3)
                    if inserted:
                        text.insert(start, inserted)
                else:  # the last line rewritten and more appended, as the output writer does
                    line = before[before.rfind("\n") + 1 :]
                    keep = rng.randint(0, len(line))
                    start = len(before.encode()) - len(line[keep:].encode())
                    if start < len(before.encode()):
                        del text[start:]
                    text.insert(start, _random_text(rng, 4) or "z")
            if changes:
                (edits,) = changes
                changes.clear()
                assert edits is not None
                copy = apply_edits(copy, edits)
            assert copy == str(text)
            assert (mirror.length, mirror.size) == (len(copy), len(copy.encode()))


def test_a_change_before_the_last_line_of_a_stream_does_not_fit():
    mirror = TextMirror("first\nsecond", whole=False)
    assert mirror.apply([{"retain": 2}, {"insert": "X"}]) is None
    assert mirror.apply([{"retain": 12}, {"insert": "é"}]) == [{"start": 12, "end": 12, "text": "é"}]
    assert mirror.apply([{"retain": 6}, {"delete": 8}, {"insert": "2"}]) == [{"start": 6, "end": 13, "text": "2"}]
    assert mirror.region == "2" and mirror.length == 7


def _recorder(changes: list, mirror: TextMirror):
    """The observer that records what ``mirror`` makes of each event (one callback per text, bound here)."""
    return lambda event: changes.append(mirror.apply(event.delta))
