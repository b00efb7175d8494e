"""JWTs: the access tokens the emulator issues (HS256, never verified by MSAL; ID tokens are
RS256, see tests/emulators/signing.py) and the client assertions it verifies (RS256/PS256
signed by an app's registered certificate)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW = 300


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def sign_hs256(claims: dict[str, Any], key: bytes) -> str:
    header = {"typ": "JWT", "alg": "HS256", "kid": "graph-emulator"}
    head = b64url(json.dumps(header, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(signature)}"


def client_info(oid: str, tid: str) -> str:
    """MSAL builds its account (home_account_id "<uid>.<utid>") from this."""
    return b64url(json.dumps({"uid": oid, "utid": tid}).encode())


class AssertionRejected(Exception):
    """A client assertion failed; `aadsts` and the message say why."""

    def __init__(self, aadsts: int, message: str) -> None:
        super().__init__(message)
        self.aadsts = aadsts


def verify_assertion(
    assertion: str, cert: x509.Certificate, client_id: str, audiences: set[str]
) -> None:
    """Check a client assertion as AAD does: signature, thumbprint, iss/sub, aud, lifetime."""
    try:
        head_b64, claims_b64, sig_b64 = assertion.split(".")
        header = json.loads(unb64url(head_b64))
        claims = json.loads(unb64url(claims_b64))
        signature = unb64url(sig_b64)
    except (ValueError, binascii.Error):
        raise AssertionRejected(50027, "JWT token is invalid or malformed.") from None
    sha1 = b64url(cert.fingerprint(hashes.SHA1()))  # x5t is SHA-1 by definition
    sha256 = b64url(cert.fingerprint(hashes.SHA256()))
    # MSAL keeps base64 padding on thumbprints; compare without it.
    given256 = str(header.get("x5t#S256", sha256)).rstrip("=")
    if given256 != sha256 or str(header.get("x5t", sha1)).rstrip("=") != sha1:
        raise AssertionRejected(
            700027,
            "The certificate with identifier used to sign the client assertion is not "
            "registered on application.",
        )
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or header.get("alg") not in ("RS256", "PS256"):
        raise AssertionRejected(700027, "Client assertion contains an invalid signature.")
    pad: padding.AsymmetricPadding = (
        padding.PKCS1v15()
        if header["alg"] == "RS256"
        else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
    )
    try:
        key.verify(signature, f"{head_b64}.{claims_b64}".encode(), pad, hashes.SHA256())
    except InvalidSignature:
        raise AssertionRejected(700027, "Client assertion failed signature validation.") from None
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise AssertionRejected(
            700023,
            "Client assertion contains an invalid issuer or subject: both must be the client id.",
        )
    if claims.get("aud") not in audiences:
        raise AssertionRejected(
            700021, "Client assertion audience claim does not match Realm issuer."
        )
    now = time.time()
    if not claims.get("exp", 0) > now - CLOCK_SKEW or claims.get("nbf", 0) > now + CLOCK_SKEW:
        raise AssertionRejected(700024, "Client assertion is not within its valid time range.")
