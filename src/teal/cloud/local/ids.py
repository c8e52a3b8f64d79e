"""Random identifiers shaped like AWS's, for the local cloud's resources."""

from __future__ import annotations

import secrets
import string

ID_ALPHABET = string.digits + string.ascii_lowercase


def random_id(length: int = 10) -> str:
    """An id shaped like API Gateway's: lowercase letters and digits.

    One random number written in base 36, rather than one draw per character:
    a large API takes thousands of them.
    """
    number = secrets.randbelow(len(ID_ALPHABET) ** length)
    digits = []
    for _ in range(length):
        number, digit = divmod(number, len(ID_ALPHABET))
        digits.append(ID_ALPHABET[digit])
    return "".join(digits)
