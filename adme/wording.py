"""How adme writes a count in a sentence: "1 document", "2 documents", never "1 documents".

Every summary line a command prints counts things; one helper makes the noun agree with the
number everywhere, so no line reads "wrote 1 rows" or "over 1 seed(s)".
"""

from __future__ import annotations

# Nouns whose plural is not the singular + "s".
_IRREGULAR = {"class": "classes", "copy": "copies", "try": "tries", "batch": "batches"}


def plural(noun: str) -> str:
    """The plural of a noun adme counts ("document" -> "documents", "class" -> "classes").

    A phrase ("stored document") takes the plural on its last word.
    """
    head, _, last = noun.rpartition(" ")
    word = _IRREGULAR.get(last, last + "s")
    return f"{head} {word}" if head else word


def count(n: int, noun: str) -> str:
    """N and the noun agreeing with it: count(1, "row") -> "1 row", count(0, "row") -> "0 rows"."""
    return f"{n} {noun if n == 1 else plural(noun)}"
