"""The gateway's side of the worker frames: events encoded as the standard library would."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from teal.cloud.local.functions.workers import decode_frame, encode_event

# what an event holds: the gateway's own, or what `teal invoke` read with json.loads
text = st.text(st.characters(blacklist_categories=("Cs",)))  # no lone surrogates
scalars = st.none() | st.booleans() | st.integers() | text
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)


def standard(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@given(values)
def test_an_event_is_encoded_byte_for_byte_as_the_standard_library_does(value: Any) -> None:
    assert encode_event(value) == standard(value)


@given(st.floats(allow_nan=False))
def test_numbers_survive_the_round_trip(number: float) -> None:
    assert json.loads(encode_event({"n": number})) == {"n": number}


def test_nan_and_infinity_are_written_as_python_writes_them() -> None:
    encoded = encode_event({"a": math.inf, "b": -math.inf})
    assert encoded == b'{"a":Infinity,"b":-Infinity}'
    assert math.isnan(json.loads(encode_event(math.nan)))


def test_what_utf8_cannot_carry_fails_as_before() -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_event({"s": "\ud800"})


@given(values)
def test_a_workers_frame_decodes_as_the_standard_library_decodes_it(value: Any) -> None:
    for frame in (json.dumps(value).encode(), standard(value)):  # the worker writes both
        assert decode_frame(frame) == json.loads(frame)


def test_a_frame_with_an_escaped_lone_surrogate_still_decodes() -> None:
    assert decode_frame(b'{"s":"\\ud800"}') == {"s": "\ud800"}
