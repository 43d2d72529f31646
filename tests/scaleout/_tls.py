"""Certificates made in a test, and a Dask cluster that admits only holders of them (mutual TLS).

``Pki(directory)`` is a CA whose ``issue(cn)`` writes a certificate (client and server use, for
127.0.0.1 and localhost) and its key as PEM files. ``mutual_tls_cluster(pki)`` starts a
``LocalCluster`` of worker processes whose scheduler and workers listen on ``tls://127.0.0.1``
with certificates of that CA and refuse any peer without one: a stand-in for an operator's
existing cluster, reached by the flows through ``MAILWARDEN_DASK_*`` settings only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Pki:
    """A CA and certificates it issues (client and server use, for 127.0.0.1), as PEM files."""

    def __init__(self, directory: Path, name: str = "mailwarden test dask CA") -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        self._cert = (x509.CertificateBuilder().subject_name(self._name).issuer_name(self._name)
                      .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
                      .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
                      .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                      .sign(self._key, hashes.SHA256()))
        self.ca_file = self.dir / f"{self._slug(name)}.pem"
        self.ca_file.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    @staticmethod
    def _slug(name: str) -> str:
        return "-".join(name.split())

    def issue(self, cn: str) -> tuple[Path, Path]:
        """(certificate file, private key file) for ``cn``, valid for 127.0.0.1 and localhost."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                .issuer_name(self._name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                            x509.DNSName("localhost")]), critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(self._key, hashes.SHA256()))
        cert_file, key_file = self.dir / f"{self._slug(cn)}.pem", self.dir / f"{self._slug(cn)}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_file.chmod(0o600)
        return cert_file, key_file


@contextlib.contextmanager
def mutual_tls_cluster(pki: Pki, *, n_workers: int = 1, threads_per_worker: int = 2) -> Iterator[Any]:
    """A LocalCluster (worker processes) on tls://127.0.0.1 that requires certificates of ``pki``."""
    from distributed import LocalCluster, Security

    scheduler_cert, scheduler_key = pki.issue("dask-scheduler")
    worker_cert, worker_key = pki.issue("dask-worker")
    operator_cert, operator_key = pki.issue("dask-operator")  # the cluster manager's own client
    security = Security(require_encryption=True, tls_ca_file=str(pki.ca_file),
                        tls_scheduler_cert=str(scheduler_cert), tls_scheduler_key=str(scheduler_key),
                        tls_worker_cert=str(worker_cert), tls_worker_key=str(worker_key),
                        tls_client_cert=str(operator_cert), tls_client_key=str(operator_key))
    with LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
                      host="127.0.0.1", protocol="tls://", security=security, dashboard_address=None) as cluster:
        yield cluster
