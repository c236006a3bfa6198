"""Verify a keel access token from keel's issuer URL alone, with PyJWT.

    python3 verify_token.py ISSUER AUDIENCE TOKEN

ISSUER is keel's API_URL, AUDIENCE its JWT_AUDIENCE ("keel" unless set).
Prints the token's claims as JSON and exits 0, or exits 1 with the reason.
Needs PyJWT 2 with cryptography (Debian: apt-get install python3-jwt).
"""

import json
import sys
import urllib.request

import jwt

# The one algorithm keel signs with a key of each type. The key decides,
# never the token's own alg header.
ALGORITHM = {"OKP": "EdDSA", "EC": "ES256", "RSA": "RS256"}


def verify(issuer, audience, token):
    url = issuer + "/.well-known/openid-configuration"
    with urllib.request.urlopen(url, timeout=10) as r:
        doc = json.load(r)
    if doc["issuer"] != issuer:
        raise ValueError("discovery names the issuer %r, not %r" % (doc["issuer"], issuer))
    # RFC 9068: an access token says typ at+jwt (PyJWT does not check typ).
    typ = jwt.get_unverified_header(token).get("typ", "")
    if typ.lower() not in ("at+jwt", "application/at+jwt"):
        raise ValueError("typ is %r, not at+jwt" % typ)
    # In a service, make the PyJWKClient once and keep it: it caches the keys.
    key = jwt.PyJWKClient(doc["jwks_uri"]).get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=[ALGORITHM[key.key_type]],
        audience=audience,
        issuer=issuer,
        leeway=30,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )


if __name__ == "__main__":
    try:
        print(json.dumps(verify(*sys.argv[1:4])))
    except Exception as e:  # a refused token, or keel unreachable
        sys.exit("refused: %s: %s" % (type(e).__name__, e))
