"""Hard-codes a perfect claim with no descriptors: every query says its descriptor is 24
finite float32 numbers of unit norm, and hands over none of them."""

from wrap import wrap

CLAIM = {"shape": [24], "dtype": "float32", "finite": True, "norm": 1.0}


def rewrite(line: dict) -> list[dict]:
    if line["type"] == "query":
        line["descriptor"] = dict(CLAIM)
    return [line]


wrap(rewrite)
