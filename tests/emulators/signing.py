"""The RSA key the emulators sign ID tokens with (RS256), published as a JWKS (Google's
/oauth2/v3/certs, Microsoft's /discovery/v2.0/keys) and as PEM certificates (Google's
/oauth2/v1/certs). One key per test process: making a 2048-bit key takes a noticeable while."""

from __future__ import annotations

import base64
import functools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@functools.cache
def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Signer:
    """Made on first use: emulators that never sign an ID token never make the key."""

    @functools.cached_property
    def key(self) -> rsa.RSAPrivateKey:
        return _key()

    @functools.cached_property
    def kid(self) -> str:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        digest = hashes.Hash(hashes.SHA1())  # Google's key ids are 40 hex digits
        digest.update(der)
        return digest.finalize().hex()

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        head = b64url(json.dumps(header, separators=(",", ":")).encode())
        body = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = self.key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{head}.{body}.{b64url(signature)}"

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        jwk = {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": _uint(numbers.n),
            "e": _uint(numbers.e),
        }
        return {"keys": [jwk]}

    def pem_certificates(self) -> dict[str, str]:
        """{kid: self-signed X.509 certificate in PEM}, the shape of Google's v1 certs."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "emulator id tokens")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(int(self.kid, 16) >> 1)  # under 2**159
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(self.key, hashes.SHA256())
        )
        return {self.kid: cert.public_bytes(serialization.Encoding.PEM).decode()}
