"""Stack output v2 read line by line: v1 lines are refused with the change to make, and a
descriptor is measured from the values handed over, or refused with why it does not decode."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from harness.errors import StackError
from harness.process.protocol import descriptor_values, parse

V1_STATE = {"type": "state", "t_s": 1.0, "p_ned_m": [0, 0, -300], "P_hh": [[1, 0], [0, 1]]}
V1_QUERY = {
    "type": "query",
    "frame": 3,
    "t_s": 0.3,
    "topk": [{"tile": "grid/r0c0", "score": 0.9}],
    "descriptor": {"shape": [24], "dtype": "float32", "finite": True, "norm": 1.0},
}


def line(obj: dict) -> str:
    return json.dumps(obj)


@pytest.mark.parametrize(
    ("obj", "field", "hint"),
    [
        (V1_STATE, "state.frame: Field required", "names its `frame`"),
        ({**V1_STATE, "type": "fix", "z_ne_m": [0, 0], "sigma_m": 5}, "fix.frame", "`frame`"),
        (V1_QUERY, "query.descriptor.data: Field required", "base64 of its little-endian"),
    ],
)
def test_a_v1_line_is_refused_with_the_change_to_make(obj: dict, field: str, hint: str) -> None:
    with pytest.raises(StackError) as exc:
        parse(7, line(obj))
    message = str(exc.value)
    assert message.startswith("stack output line 7: ") and field in message and hint in message
    assert "docs/adapters.md" in message


def described(values: np.ndarray, **over) -> dict:
    data = base64.b64encode(values.astype("<f4").tobytes()).decode()
    desc = {"dtype": "float32", "shape": list(values.shape), "data": data, **over}
    return {**V1_QUERY, "descriptor": desc}


def test_the_descriptor_is_measured_from_its_values() -> None:
    values = np.full(24, 1 / np.sqrt(24), dtype=np.float32)
    item = parse(2, line(described(values)))
    got = descriptor_values(2, item.descriptor)
    assert got.dtype == np.float32 and got.shape == (24,)
    np.testing.assert_array_equal(got, values)


@pytest.mark.parametrize(
    ("over", "why"),
    [
        ({"data": "not base64!"}, "not base64"),
        ({"dtype": "float64"}, "96 bytes, but shape [24] of float64 is 192"),
        ({"shape": [4, 4]}, "96 bytes, but shape [4, 4] of float32 is 64"),
    ],
)
def test_data_that_does_not_decode_as_stated_is_located(over: dict, why: str) -> None:
    item = parse(5, line(described(np.ones(24, dtype=np.float32), **over)))
    with pytest.raises(StackError) as exc:
        descriptor_values(5, item.descriptor)
    assert str(exc.value).startswith("stack output line 5: query.descriptor.data: ")
    assert why in str(exc.value)
