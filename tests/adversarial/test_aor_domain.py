#!/usr/bin/env python3
"""Threat model, item 13: an address-of-record in another domain.

alice authenticates correctly (realm example.com) but REGISTERs the address-of-record
sip:alice@other.example (another tenant of a multi-tenant core), or sends a request From it.
Before the fix the SBC compared only the user part, so both reached the core as alice's.
What must hold: the host of the To (REGISTER) and of the From (bind_from) is compared too, with
policy.auth.domains (default: the identity domain, which defaults to the realm): other.example
gets 403 and the core sees nothing; example.com is relayed.

usage: test_aor_domain.py PATH/TO/sbc
"""

import advlib

t = advlib.Test()
core = advlib.UdpCore()
users = t.credentials_file("example.com", {"alice": "alice-secret"})
sbc = t.start_sbc(core_port=core.port,
                  policy="{chain: [acl, auth], auth: {realm: example.com, "
                         "credentials_file: %s, algorithms: [MD5]}}" % users)
alice = advlib.UdpPeer("127.0.0.50")


def authenticated(method, ruri, aor, header):
    """Sends METHOD with From (and, for REGISTER, To) = aor, answers the challenge; the final
    status (None: no answer)."""
    def build(extra=()):
        return advlib.request(method, ruri, source=alice.address, from_uri=aor,
                              to_uri=aor if method == "REGISTER" else None,
                              contact="<sip:alice@%s:%d>" % alice.address, extra=list(extra))
    alice.send(build(), t.sbc_address)
    challenge = alice.wait_for(lambda d: (advlib.status_of(d) or 0) >= 200, 1.5)
    if challenge is None or advlib.status_of(challenge) not in (401, 407):
        return challenge and advlib.status_of(challenge)
    nonce = advlib.challenge_of(challenge)["nonce"]
    answer = advlib.digest_answer("alice", "alice-secret", "example.com", nonce, method, ruri)
    alice.send(build(["%s: %s" % (header, answer)]), t.sbc_address)
    data = alice.wait_for(lambda d: (advlib.status_of(d) or 0) >= 200, 1.5)
    return data and advlib.status_of(data)


core.clear()
status = authenticated("REGISTER", "sip:example.com", "sip:alice@other.example", "Authorization")
t.check("REGISTER of sip:alice@other.example with alice's credentials: 403", status == 403, status)
t.check("... and the core saw no REGISTER", len(core.requests("REGISTER")) == 0,
        len(core.requests("REGISTER")))
status = authenticated("MESSAGE", "sip:bob@example.com", "sip:alice@other.example",
                       "Proxy-Authorization")
t.check("MESSAGE From sip:alice@other.example with alice's credentials: 403", status == 403, status)
t.check("... and the core saw no MESSAGE", len(core.requests("MESSAGE")) == 0,
        len(core.requests("MESSAGE")))

status = authenticated("REGISTER", "sip:example.com", "sip:alice@example.com", "Authorization")
t.check("REGISTER of sip:alice@example.com: relayed, 200", status == 200 and
        len(core.requests("REGISTER")) == 1, (status, len(core.requests("REGISTER"))))
status = authenticated("MESSAGE", "sip:bob@example.com", "sip:alice@EXAMPLE.com",
                       "Proxy-Authorization")
t.check("MESSAGE From sip:alice@EXAMPLE.com (hosts compare case-insensitively): relayed, 200",
        status == 200 and len(core.requests("MESSAGE")) == 1,
        (status, len(core.requests("MESSAGE"))))
alice.close()
core.close()
t.finish()
