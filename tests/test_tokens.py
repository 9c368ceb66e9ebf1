"""Assignment tokens, completion codes and the generated certificate."""

import ipaddress

import pytest
from cryptography import x509

from kernel.errors import BadToken
from app.tls import ensure_self_signed
from kernel.tokens import TokenData, check_completion_code, completion_code, make_token, read_token

KEY = b"s" * 32


def test_a_token_vouches_for_exactly_what_it_was_made_for():
    token = make_token(KEY, "A1", "exp-001", "W1", 3)
    assert read_token(KEY, token) == TokenData("A1", "exp-001", "W1", 3)
    with pytest.raises(BadToken, match="not issued by this server"):
        read_token(b"t" * 32, token)
    for i, part in enumerate(("A2", "exp-002", "W2", "4")):
        forged = token.split(".")
        forged[i] = part
        with pytest.raises(BadToken, match="not issued by this server"):
            read_token(KEY, ".".join(forged))


@pytest.mark.parametrize("token", ["", "a.b.c", "A1.L.W.x.sig", None, 5, "A 1.L.W.0." + "a" * 43])
def test_malformed_tokens(token):
    with pytest.raises(BadToken, match="the assignment_token is malformed"):
        read_token(KEY, token)


def test_completion_codes_depend_on_the_key_and_the_assignment():
    data = TokenData("A1", "exp-001", "W1", 3)
    code = completion_code(KEY, data)
    assert check_completion_code(KEY, data, code)
    assert code != completion_code(b"t" * 32, data)
    assert code != completion_code(KEY, TokenData("A2", "exp-001", "W1", 3))
    assert not check_completion_code(KEY, data, code.lower())


def test_self_signed_certificate_names_the_hosts_and_is_reused(tmp_path):
    cert, key = ensure_self_signed(tmp_path, hosts=["mvt.example.org", "10.0.0.5"])
    names = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {"localhost", "mvt.example.org"}
    assert set(names.get_values_for_type(x509.IPAddress)) == {ipaddress.ip_address("127.0.0.1"),
                                                              ipaddress.ip_address("10.0.0.5")}
    before = cert.read_bytes()
    assert ensure_self_signed(tmp_path, hosts=["mvt.example.org"]) == (cert, key)
    assert cert.read_bytes() == before
    assert key.stat().st_mode & 0o777 == 0o600


def test_a_trailing_newline_is_not_a_valid_token():
    with pytest.raises(BadToken, match="malformed"):
        read_token(KEY, make_token(KEY, "A1", "exp-001", "W1", 3) + "\n")
