#!/usr/bin/python3
"""Writes the Python-made vectors of vectors.json (see README.md): every hash
here is made by its format's own reference implementation, never by keel.
Run with Debian's python3 and python3-bcrypt, python3-argon2, python3-django."""
import json

import argon2
import bcrypt
import django
from django.conf import settings

settings.configure(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"])
django.setup()
from django.contrib.auth.hashers import check_password, make_password  # noqa: E402

vectors = []


def add(fmt, made_by, password, hash_):
    vectors.append({"format": fmt, "made_by": made_by, "password": password, "hash": hash_})


for prefix in (b"2a", b"2b"):
    pw = "correct horse " + prefix.decode()
    h = bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5, prefix=prefix)).decode()
    assert bcrypt.checkpw(pw.encode(), h.encode())
    add("bcrypt", "python3-bcrypt %s: bcrypt.hashpw(pw, bcrypt.gensalt(rounds=5, prefix=%s))" % (bcrypt.__version__, prefix.decode()), pw, h)
# $2y$ (PHP's name for $2b$): hashpw keeps a $2y$ salt's prefix.
salt = b"$2y$" + bcrypt.gensalt(rounds=5)[4:]
pw = "correct horse 2y"
h = bcrypt.hashpw(pw.encode(), salt).decode()
assert h.startswith("$2y$") and bcrypt.checkpw(pw.encode(), h.encode())
add("bcrypt", "python3-bcrypt %s: bcrypt.hashpw(pw, a $2y$ salt of bcrypt.gensalt(rounds=5))" % bcrypt.__version__, pw, h)

for typ, name, pw, t, m, p in (
    (argon2.Type.ID, "argon2id", "tr0ub4dor&3", 2, 19456, 1),
    (argon2.Type.ID, "argon2id", "pässwörd ✓", 3, 65536, 4),
    (argon2.Type.I, "argon2i", "hunter22hunter", 3, 4096, 2),
):
    ph = argon2.PasswordHasher(time_cost=t, memory_cost=m, parallelism=p, type=typ)
    h = ph.hash(pw)
    assert h.startswith("$" + name + "$v=19$") and ph.verify(h, pw)
    add(name, "python3-argon2 (argon2-cffi) %s: PasswordHasher(time_cost=%d, memory_cost=%d, parallelism=%d, type=Type.%s).hash(pw)"
        % (argon2.__version__, t, m, p, typ.name), pw, h)

for pw in ("django password", "ünïcode pässword"):
    h = make_password(pw)
    assert h.startswith("pbkdf2_sha256$") and check_password(pw, h)
    add("pbkdf2_sha256", "python3-django %s: django.contrib.auth.hashers.make_password(pw) with PBKDF2PasswordHasher" % django.get_version(), pw, h)

print(json.dumps(vectors, indent=1, ensure_ascii=False))
