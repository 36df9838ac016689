"""Secrets at rest and in transit: Fernet for tokens, HMAC-derived keys for signed states,
SHA-256 for things we only need to recognise (API keys, channel tokens, callback secrets)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretKeyError(Exception):
    """Stored secrets cannot be read with the configured CALBOT_SECRET_KEY."""


def new_secret_key() -> str:
    return Fernet.generate_key().decode()


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def secrets_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _derive(key: str, purpose: str) -> bytes:
    """A separate key per purpose, so a leaked state-signing key never decrypts tokens."""
    raw = base64.urlsafe_b64decode(key.encode())
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"calbot", info=purpose.encode())
    return base64.urlsafe_b64encode(hkdf.derive(raw))


class TokenCipher:
    """Encrypts OAuth tokens and other secrets stored in the database."""

    def __init__(self, key: str):
        self._fernet = Fernet(_derive(key, "tokens-at-rest"))
        self._states = Fernet(_derive(key, "signed-state"))

    def encrypt(self, plaintext: str | None) -> str | None:
        if plaintext is None:
            return None
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str | None) -> str | None:
        if ciphertext is None:
            return None
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "stored secrets cannot be decrypted: CALBOT_SECRET_KEY is not the key this "
                "database was created with (restore the old key, or start with a new CALBOT_DATABASE)"
            ) from None

    def sign_state(self, data: dict) -> str:
        """An opaque, tamper-proof, timestamped token carrying `data` (Fernet: AES + HMAC)."""
        return self._states.encrypt(json.dumps(data, separators=(",", ":")).encode()).decode()

    def read_state(self, token: str, max_age_seconds: int) -> dict | None:
        """The data of a state made by `sign_state`, or None if forged, altered or too old."""
        try:
            return json.loads(self._states.decrypt(token.encode(), ttl=max_age_seconds))
        except (InvalidToken, ValueError, TypeError):
            return None


KEY_CHECK_NAME = "secret_key_check"
KEY_CHECK_PLAINTEXT = "calbot-key-check"


def verify_key_matches_database(db, cipher: TokenCipher) -> None:
    """On first start remember a value encrypted with the key; later, check it still decrypts.

    Without this a wrong key would only show up when the first token is used, far from the cause.
    """
    row = db.execute("SELECT value FROM cursors WHERE name = ?", [KEY_CHECK_NAME]).fetchone()
    if row is None:
        db.execute(
            "INSERT INTO cursors (name, value) VALUES (?, ?)",
            [KEY_CHECK_NAME, cipher.encrypt(KEY_CHECK_PLAINTEXT)],
        )
        return
    if cipher.decrypt(row[0]) != KEY_CHECK_PLAINTEXT:
        raise SecretKeyError("CALBOT_SECRET_KEY does not match this database")
