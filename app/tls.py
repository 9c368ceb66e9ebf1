"""A self-signed TLS certificate for ``mvt serve`` when none is given, kept in the data dir."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def ensure_self_signed(directory: Path, hosts=("localhost", "127.0.0.1")) -> tuple[Path, Path]:
    """``(certfile, keyfile)`` in ``directory``, made on first use for ``hosts`` (SAN entries).

    A certificate made earlier is reused when it still covers every host and is not about
    to expire; otherwise a new one (ECDSA P-256, valid one year) replaces it.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    certfile, keyfile = directory / "tls-cert.pem", directory / "tls-key.pem"
    wanted = list(dict.fromkeys(["localhost", "127.0.0.1", *(h for h in hosts if h and h != "0.0.0.0")]))
    if certfile.exists() and keyfile.exists():
        cert = x509.load_pem_x509_certificate(certfile.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        covered = {str(n.value) for n in names}
        if set(wanted) <= covered and cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=7):
            return certfile, keyfile
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, wanted[0]),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mvt-server (self-signed)")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([_san(h) for h in wanted]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    keyfile.chmod(0o600)
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return certfile, keyfile
