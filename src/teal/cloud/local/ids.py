"""Random identifiers shaped like AWS's, for the local cloud's resources."""

from __future__ import annotations

import secrets
import string


def random_id(length: int = 10) -> str:
    """An id shaped like API Gateway's: lowercase letters and digits."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(length))
