"""A throwaway certificate authority and a server certificate for 127.0.0.1, made with
``cryptography`` in a test's temp folder: real TLS for the real server process and the kiosk.

``make_ca(folder)`` writes ``ca.pem`` (and keeps the CA key in memory); ``ca.issue(folder)``
writes ``server.pem`` + ``server.key`` for ``127.0.0.1`` / ``localhost`` / ``::1``. ``tls_files``
is the fixture: a ``TlsFiles`` with the three paths (and an unrelated second CA, ``other_ca``,
that a man in the middle would use).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_NOW = dt.datetime.now(dt.UTC)  # certificate validity only, never a rule's time


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Library"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass(frozen=True)
class TestCa:
    """A CA whose certificate is in ``pem`` (a file) and whose key signs server certificates."""

    __test__ = False  # not a test class
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    pem: Path

    def issue(self, folder: Path, name: str = "server",
              hosts: tuple[str, ...] = ("127.0.0.1", "::1", "localhost")) -> tuple[Path, Path]:
        """A server certificate (chain file) and its unencrypted key for ``hosts``."""
        folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(hosts[0])).issuer_name(self.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_NOW - dt.timedelta(hours=1))
            .not_valid_after(_NOW + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(_key_pem(key))
        key_path.chmod(0o600)
        return cert_path, key_path


def make_ca(folder: Path, name: str = "Test Library CA") -> TestCa:
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name)).issuer_name(_name(name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(_NOW - dt.timedelta(hours=1))
        .not_valid_after(_NOW + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = folder / "ca.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return TestCa(key, cert, pem)


@dataclass(frozen=True)
class TlsFiles:
    ca: TestCa
    cert: Path
    key: Path
    other_ca: TestCa  # a CA that did not sign ``cert``

    @property
    def ca_file(self) -> Path:
        return self.ca.pem


@pytest.fixture(name="tls_files")
def tls_files_fixture(tmp_path: Path) -> TlsFiles:
    ca = make_ca(tmp_path / "tls" / "ca")
    cert, key = ca.issue(tmp_path / "tls" / "server")
    return TlsFiles(ca, cert, key, make_ca(tmp_path / "tls" / "other", "Someone Else CA"))
