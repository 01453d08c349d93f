"""Answers only the easy frames: drops every other query and the fix of the same frame, as a
stack that stays silent whenever it is unsure would."""

from wrap import wrap

dropped: set[int] = set()
queries = 0


def rewrite(line: dict) -> list[dict]:
    global queries
    if line["type"] == "query":
        queries += 1
        if queries % 2 == 0:
            dropped.add(line["frame"])
            return []
    if line["type"] == "fix" and line.get("frame") in dropped:
        return []
    return [line]


wrap(rewrite)
