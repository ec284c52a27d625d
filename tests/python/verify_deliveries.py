"""Verifies captured webhook deliveries with Python's hmac, independently of the Rust code.

Usage: verify_deliveries.py SCHEME SECRETS DELIVERIES_FILE

SCHEME is `standard` or `hmac:<header>`; SECRETS is a comma-separated list of
`whsec_<base64>` secrets; DELIVERIES_FILE holds one JSON object per line with `headers`
(lower-case names) and `body_b64`. Prints a JSON object: how many deliveries verify with
every secret, how many with none, and the ids of those that do not.
"""

import base64
import hashlib
import hmac
import json
import sys


def keys(secrets):
    return [base64.b64decode(s.strip().removeprefix("whsec_")) for s in secrets.split(",")]


def standard_ok(key, headers, body):
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    tag = hmac.new(key, signed, hashlib.sha256).digest()
    given = [
        base64.b64decode(s[3:]) for s in headers["webhook-signature"].split() if s.startswith("v1,")
    ]
    return any(hmac.compare_digest(g, tag) for g in given)


def hmac_ok(key, header, headers, body):
    tag = hmac.new(key, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers[header.lower()], tag)


def main():
    scheme, secrets, path = sys.argv[1:4]
    secret_keys = keys(secrets)
    by_all, by_none, bad_ids = 0, 0, []
    with open(path) as f:
        for line in f:
            delivery = json.loads(line)
            headers = delivery["headers"]
            body = base64.b64decode(delivery["body_b64"])
            if scheme == "standard":
                results = [standard_ok(k, headers, body) for k in secret_keys]
            else:
                header = scheme.split(":", 1)[1]
                results = [hmac_ok(k, header, headers, body) for k in secret_keys]
            if all(results):
                by_all += 1
            if not any(results):
                by_none += 1
                bad_ids.append(json.loads(body)["id"])
    json.dump({"verified_by_every_secret": by_all, "unverified": by_none, "bad_ids": bad_ids[:10]}, sys.stdout)


if __name__ == "__main__":
    main()
