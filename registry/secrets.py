"""Encryption at rest for registry credentials (Fernet, key from CREDENTIALS_KEY)."""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

CREDENTIALS_KEY_MISMATCH_MESSAGE = (
    "The stored registry password cannot be decrypted: the CREDENTIALS_KEY setting is not "
    "the key it was saved with (it was changed, or is wrong). Set CREDENTIALS_KEY back to "
    "that key, or save the registry's password again."
)


class CredentialsKeyMismatch(Exception):
    """The stored secret was encrypted with another CREDENTIALS_KEY."""


@cache
def _fernet(key: str) -> Fernet:
    return Fernet(key.encode())


def encrypt_secret(plaintext: str) -> str:
    if not plaintext:
        return ""
    return _fernet(settings.CREDENTIALS_KEY).encrypt(plaintext.encode()).decode()


def decrypt_secret(ciphertext: str) -> str:
    if not ciphertext:
        return ""
    try:
        return _fernet(settings.CREDENTIALS_KEY).decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise CredentialsKeyMismatch(CREDENTIALS_KEY_MISMATCH_MESSAGE) from exc
