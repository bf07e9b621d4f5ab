"""Checking a signed callback: what a receiver runs before it trusts a callback's body.

With CALLBACK_SECRET set, the service sends `X-IOPaint-Signature: t=<unix seconds>,v1=<hex
HMAC-SHA256(secret, "<t>.<raw body>")>` and `X-IOPaint-Delivery: <id>` (the same id on every retry
of one callback, so a receiver can drop duplicates). See docs/API.md, "Callback".
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Optional, Union

from .errors import ClientError

SIGNATURE_HEADER = "X-IOPaint-Signature"
DELIVERY_HEADER = "X-IOPaint-Delivery"
DEFAULT_TOLERANCE = 300.0  # seconds a signature stays valid: retries are signed afresh


class InvalidSignature(ClientError):
    """The callback is not signed with the secret, is malformed, or is older than the tolerance."""


def verify_signature(body: Union[bytes, str], signature: Optional[str], secret: str, *,
                     tolerance: float = DEFAULT_TOLERANCE, now: Optional[float] = None) -> int:
    """Check `signature` (the X-IOPaint-Signature header) against the raw request `body`, exactly
    as received (before any JSON parsing). Returns the signed unix time; raises InvalidSignature
    for a wrong or missing signature, or one more than `tolerance` seconds away from `now`."""
    if not secret:
        raise ValueError("verify_signature needs the CALLBACK_SECRET the service signs with")
    if not signature:
        raise InvalidSignature(f"no {SIGNATURE_HEADER} header")
    raw = body.encode() if isinstance(body, str) else bytes(body)
    timestamp: Optional[int] = None
    candidates: list[str] = []
    for part in signature.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)  # several v1 values while a secret is being rotated
    if timestamp is None or not candidates:
        raise InvalidSignature(f"malformed {SIGNATURE_HEADER}: expected t=<unix seconds>,v1=<hex>")
    age = (time.time() if now is None else now) - timestamp
    if abs(age) > tolerance:
        raise InvalidSignature(f"signature is {age:.0f} s old, beyond the tolerance of {tolerance:g} s")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise InvalidSignature("signature does not match the body and the secret")
    return timestamp
