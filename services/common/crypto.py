"""Field-level encryption for personal data, with a keyed hash for exact lookup.

Values are sealed with AES-256-GCM (random nonce, key id prefix so keys can rotate). The
blind index is an HMAC-SHA256 under a key derived separately, so equal values can be found
and de-duplicated without decrypting, and the index reveals nothing without the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"g1"


class FieldCipher:
    def __init__(self, key_b64: str) -> None:
        try:
            key = base64.b64decode(key_b64, validate=True)
        except ValueError as exc:
            raise ValueError("the field encryption key must be base64") from exc
        if len(key) != 32:
            raise ValueError("the field encryption key must be 32 bytes (base64 of 32 random bytes)")
        self._aead = AESGCM(hashlib.sha256(b"granary-field-encryption|" + key).digest())
        self._index_key = hashlib.sha256(b"granary-blind-index|" + key).digest()

    def encrypt(self, plaintext: str, *, context: str) -> bytes:
        """``context`` (e.g. "party.id_number") binds the ciphertext to its column."""
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def decrypt(self, sealed: bytes, *, context: str) -> str:
        if not sealed.startswith(_VERSION):
            raise ValueError("unknown ciphertext version")
        nonce, body = sealed[2:14], sealed[14:]
        return self._aead.decrypt(nonce, body, context.encode()).decode()

    def blind_index(self, value: str, *, context: str) -> str:
        return hmac.new(self._index_key, f"{context}|{value}".encode(), hashlib.sha256).hexdigest()


def generate_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()
