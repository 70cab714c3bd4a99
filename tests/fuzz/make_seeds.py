#!/usr/bin/env python3
"""Writes the seed corpora, tests/fuzz/corpus/<harness>/seed-*, from the
examples below (the input format of each harness is described at the top
of its fuzz_<name>.c). The seeds are committed; run this again after
changing an example. Regression inputs (regress-*) are kept as they are.

Usage: tests/fuzz/make_seeds.py
"""
import hashlib
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# Byte 0 of a fuzz_json input picks the type by its place in the sorted
# list (FUZZ_JSON_LIST_TYPES=1 build-fuzz/tests/fuzz/fuzz_json -runs=0
# prints it). A new message type shifts the places: the seeds then still
# are valid inputs, of a neighbouring type, and the fuzzer finds its way.
N_TYPES = 63
JSON_DOCS = {
    31: {"username": "ada", "password": "correct horse battery staple"},
    35: {"username": "ada", "email": "ada@example.com",
         "password": "correct horse battery staple"},
    34: {"refreshToken": "c2lk.c2VjcmV0"},
    5: {"page_size": 20, "page_token": "abc", "status": "USER_STATUS_ACTIVE"},
    3: {"page_size": "5", "user_id": "0b6f6c52-8c3e-4b8e-9f6e-1d2f3a4b5c6d"},
    61: {"display_name": "Ada L\u00f6velace \U0001F600", "bio": "",
         "avatar_url": "https://example.com/a.png", "locale": "en-GB",
         "expected_version": "7"},
    60: {"user_id": "u1", "version": "3",
         "created_at": "2026-12-02T19:00:00.123Z",
         "updated_at": "1970-01-01T00:00:00+01:00"},
    52: {"f_int32": -5, "f_int64": "-9223372036854775808",
         "f_uint32": 4294967295, "f_uint64": "18446744073709551615",
         "f_sint32": -1, "f_sint64": "1", "f_fixed32": 7, "f_fixed64": "8",
         "f_sfixed32": -9, "f_sfixed64": "-10", "f_float": "NaN",
         "f_double": 1.5e300, "f_bool": True, "f_string": "\u00e9\\u0000",
         "f_bytes": "3q2+7w==", "f_enum": "COLOR_RED",
         "f_message": {"name": "x", "value": 1, "child": {"name": "y"}},
         "r_int32": [1, -2], "r_int64": ["3"], "r_string": ["a", "b"],
         "r_bytes": ["AA", "_-8"], "r_enum": [1, "COLOR_RED"],
         "r_message": [{}], "r_double": ["Infinity", -0.0],
         "r_bool": [False], "m_string_int32": {"k": 1},
         "m_int64_string": {"-1": "v"}, "m_bool_inner": {"true": {}},
         "m_uint32_enum": {"4": "COLOR_RED"}, "o_int32": 0,
         "oString": "", "cInner": {"name": "c"},
         "f_timestamp": "9999-12-31T23:59:59.999999999Z",
         "f_struct": {"a": [1, None, {"b": "c"}], "d": True, "e": 0.5},
         "f_value": "NaN", "f_list": [[], {}], "r_value": [None, -1]},
    # google.protobuf.Struct at the top, and an audit entry's detail.
    48: {"before": {"status": "active", "role": "user"},
         "after": {"status": "disabled"}, "sessions_revoked": 2,
         "deep": [[[{"x": None}]]]},
    0: {"id": "42", "time": "2026-02-02T17:41:00.250Z", "action": "users.update",
        "detail": {"revoked": 3, "fields": ["a"], "message": "x"}},
}


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def request(method, payload=b"", md=None):
    out = field(1, 2, method.encode())
    out += field(2, 2, payload)
    for k, v in (md or {}).items():
        entry = field(1, 2, k.encode()) + field(2, 2, v)
        out += field(3, 2, entry)
    return out


def response(code, message, details=(), retry=0):
    out = field(1, 0, varint(code)) + field(2, 2, message.encode())
    for f, d in details:
        out += field(4, 2, field(1, 2, f.encode()) + field(2, 2, d.encode()))
    if retry:
        out += field(5, 0, varint(retry))
    return out


def b64url(b):
    import base64
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def json_seeds():
    seeds = []
    for i in range(N_TYPES):
        seeds.append(bytes([i, 0]) + b"{}")
        seeds.append(bytes([i, 1]))
    for i, doc in JSON_DOCS.items():
        seeds.append(bytes([i, 0]) + json.dumps(doc).encode())
    # A LoginRequest and an AllTypes in protobuf binary.
    seeds.append(bytes([31, 1]) + field(1, 2, b"ada") + field(2, 2, b"pw"))
    seeds.append(bytes([48, 1]) + field(1, 0, varint(5)) +
                 field(14, 2, "\u00e9".encode()) + field(17, 2, field(1, 2, b"n")) +
                 field(61, 2, field(1, 0, varint(1700000000))))
    return seeds


def jwt_seeds():
    hdr = {"alg": "EdDSA", "typ": "at+jwt",
           "kid": "KID"}
    claims = {"iss": "https://issuer.test", "sub": "u1", "aud": "microcore",
              "exp": 1700000900, "iat": 1700000000, "nbf": 1700000000,
              "jti": "j1", "sid": "s1", "username": "ada", "role": "user",
              "auth_time": 1700000000}
    h = json.dumps(hdr, separators=(",", ":")).encode()
    c = json.dumps(claims, separators=(",", ":")).encode()
    tok = f"{b64url(h)}.{b64url(c)}.{b64url(bytes(64))}".encode()
    jwks = {"keys": [{"kty": "OKP", "crv": "Ed25519",
                      "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                      "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
                      "use": "sig", "alg": "EdDSA"}]}
    aud_list = dict(claims, aud=["other", "microcore"])
    return [
        b"\x00" + tok,
        b"\x00" + b"a.b.c",
        b"\x00" + b"..",
        b"\x01" + json.dumps(jwks).encode(),
        b"\x01" + b'{"keys":[]}',
        b"\x02" + h + b"\n" + c,
        b"\x02" + h + b"\n" + json.dumps(aud_list).encode(),
        b"\x02" + b'{"alg":"EdDSA","kid":"KID","crit":["x"]}\n{}',
        b"\x02" + b'{"alg":"Ed25519","kid":"KID","typ":"application/at+jwt"}\n'
        b'{"iss":"https://issuer.test","sub":"u","aud":"microcore",'
        b'"exp":1700000000,"jti":"j","nbf":1700000031}',
        b"\x03" + b"AQID",
        b"\x03" + b"_-8",
    ]


def rpc_seeds():
    login = field(1, 2, b"ada") + field(2, 2, b"pw")
    md = {"request-id": b"0123456789abcdef", "deadline-ms": b"5000",
          "authorization": b"Bearer x.y.z", "client-ip": b"127.0.0.1"}
    return [
        b"\x00" + request("/auth.v1.AuthService/Login", login, md),
        b"\x00" + request("/auth.v1.AuthService/Register",
                          field(1, 2, b"ada") + field(2, 2, b"a@b.c") +
                          field(3, 2, b"pw")),
        b"\x00" + request("/user.v1.UserService/UpdateProfile",
                          field(1, 2, b"Ada") + field(5, 0, varint(3))),
        b"\x00" + request("/admin.v1.AdminService/ListUsers",
                          field(1, 0, varint(20))),
        b"\x00" + request("/core.v1.Health/Check", field(1, 2, b"auth.v1.AuthService")),
        b"\x00" + request("/no.such/Method", b"", {"deadline-ms": b"-1"}),
        b"\x00" + request("/auth.v1.AuthService/Login", field(1, 2, b"\xc3\x28")),
        b"\x01" + response(0, "", ()),
        b"\x01" + response(3, "invalid", [("user.name", "too long")], 5),
        b"\x01" + response(99, "future code"),
    ]


def edge_seeds():
    return [
        b"\x00/profile",
        b"\x00/sessions/abc-123",
        b"\x00/admin/users/0b6f6c52%2D8c3e/revoke-sessions",
        b"\x00/index.html%00.js",
        b"\x01page_size=20&page_token=abc&status=USER_STATUS_ACTIVE",
        b"\x01user_id=%C3%A9&page_size=+5",
        b"\x01a=1&a=2",
        b"\x02eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1MSJ9.c2ln",
        b"\x02c2lk.c2VjcmV0",
        b"\x03https://app.example.com, http://localhost:5173\n"
        b"http://localhost:5173\nlocalhost:5173",
        b"\x03https://a.example\nnull\nexample.com",
        b'\x04"v7"',
        b'\x04W/"v2"',
        b"\x047",
        b"\x04*",
        b'\x04"x", "v3", W/"v4"',
        b"\x05application/json; charset=utf-8",
        b"\x05text/plain",
    ]


def write(name, seeds):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("seed-"):
            os.remove(os.path.join(d, f))
    for s in seeds:
        h = hashlib.sha1(s).hexdigest()[:16]
        with open(os.path.join(d, f"seed-{h}"), "wb") as f:
            f.write(s)


def main():
    write("json", json_seeds())
    write("jwt", jwt_seeds())
    write("rpc", rpc_seeds())
    write("edge", edge_seeds())


if __name__ == "__main__":
    main()
