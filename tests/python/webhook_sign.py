"""An independent implementation of the webhook signatures, with Python's hmac.

Usage: webhook_sign.py WHSEC_SECRET EVENT_ID TIMESTAMP BODY_FILE RUST_SIGNATURE

Prints a JSON object: the Standard Webhooks signature and the plain hex HMAC of the body,
both computed here, and whether the signature Rust made verifies here.
"""

import base64
import hashlib
import hmac
import json
import sys


def main():
    secret, event_id, timestamp, body_file, rust_signature = sys.argv[1:6]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    with open(body_file, "rb") as f:
        body = f.read()
    signed = f"{event_id}.{timestamp}.".encode() + body
    tag = hmac.new(key, signed, hashlib.sha256).digest()
    standard = "v1," + base64.b64encode(tag).decode()
    plain = hmac.new(key, body, hashlib.sha256).hexdigest()
    rust_ok = any(
        hmac.compare_digest(base64.b64decode(s.removeprefix("v1,")), tag)
        for s in rust_signature.split()
        if s.startswith("v1,")
    )
    json.dump({"standard": standard, "plain": plain, "rust_verifies": rust_ok}, sys.stdout)


if __name__ == "__main__":
    main()
