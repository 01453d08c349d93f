"""Claims finite descriptors while sending NaN: every descriptor's values become NaN (when the
line carries them); the figures the stack claims about them stay as perfect as before."""

import base64
import struct

from wrap import wrap


def rewrite(line: dict) -> list[dict]:
    desc = line.get("descriptor") if line["type"] == "query" else None
    if desc is not None:
        if "data" in desc:
            count = len(base64.b64decode(desc["data"])) // 4
            desc["data"] = base64.b64encode(
                struct.pack(f"<{count}f", *[float("nan")] * count)
            ).decode()
        else:
            desc |= {"finite": True, "norm": 1.0}
    return [line]


wrap(rewrite)
