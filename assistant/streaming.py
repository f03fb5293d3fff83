"""How an answer is streamed, in one place: the word counts of its frames.

Every front end that streams (`Assistant.stream`, the web chat, the `/chat` API) shows the answer
in these steps: at least `step` words each, at most `frames` frames, so a long answer streams in
bigger steps rather than for longer (a web worker slot is held while it streams).

>>> frames(20)
[8, 16]
>>> len(frames(1000)) <= 12 and frames(1000)[0] == 83
True
"""

from __future__ import annotations

STEP = 8
FRAMES = 12


def frames(words: int, step: int = STEP, most: int = FRAMES) -> list[int]:
    """The word counts shown before the whole answer (the whole answer is the last frame, not listed)."""
    size = max(step, words // most)
    return list(range(size, words, size))


def prefix(text: str, count: int) -> str:
    """The first `count` words of `text`, as they are streamed."""
    return " ".join(text.split(" ")[:count])
