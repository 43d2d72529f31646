"""The sandbox's own app registration for demos and the CLI: a client id, a secret and a
certificate, written to ``<state_dir>/app.json`` (+ PEM files) with owner-only permissions."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from m365sandbox.core import DEFAULT_TIERS, Sandbox

DEMO_CLIENT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://m365-sandbox.invalid/demo-app"))
DEFAULT_REDIRECTS = ("http://localhost:8766/consent/callback", "http://127.0.0.1:8766/consent/callback")


def create_demo_app(sb: Sandbox, state_dir: Path, redirect_uris: tuple[str, ...] = DEFAULT_REDIRECTS) \
        -> Path:
    """Register the demo app in ``sb`` and write its credentials; returns the JSON file's path."""
    state_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "m365-sandbox demo app")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=365)).sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_file, cert_file = state_dir / "app-key.pem", state_dir / "app-cert.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    cert_file.write_bytes(cert_pem)
    sb.register_app(DEMO_CLIENT_ID, secret=secret, certificate_pem=cert_pem, redirect_uris=redirect_uris)
    info: dict[str, Any] = {
        "client_id": DEMO_CLIENT_ID, "client_secret": secret, "private_key_file": str(key_file),
        "certificate_file": str(cert_file),
        "thumbprint": cert.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - x5t is SHA-1
        "redirect_uris": list(redirect_uris), "tiers": {k: list(v) for k, v in DEFAULT_TIERS.items()}}
    path = state_dir / "app.json"
    path.write_text(json.dumps(info, indent=2))
    path.chmod(0o600)
    return path
