"""Stamps states before their frame: every state is dated 0.5 s earlier than the frame it was
computed from, as a filter that peeks ahead and reports the past would look."""

from wrap import wrap


def rewrite(line: dict) -> list[dict]:
    if line["type"] == "state":
        line["t_s"] -= 0.5
    return [line]


wrap(rewrite)
