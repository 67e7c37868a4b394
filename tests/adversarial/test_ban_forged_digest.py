#!/usr/bin/env python3
"""Threat model, item 4: forged Digest failures ban their victim; a forged scanner datagram bans
an authenticated user.

(1) The attacker forges REGISTERs "from" the victim's address (127.0.0.30) with Authorization
    headers carrying a nonce the SBC never issued to that address and a wrong response. Before the
    fix each counted as a failed authentication (the response was checked before the nonce), and
    ban_after_failures of them banned the victim. What must hold: a failure counts only for a
    nonce this SBC issued to that source and that is still valid; the victim then registers.
(2) A real guesser that answers its own nonces with wrong passwords is still banned.
(3) alice authenticates over UDP from 127.0.0.32; one forged datagram with a scanner User-Agent
    from her address must not ban her (an authenticated peer is never banned by unverified UDP
    evidence).

usage: test_ban_forged_digest.py PATH/TO/sbc
"""

import random

import advlib

t = advlib.Test()
core = advlib.UdpCore()
users = t.credentials_file("example.com", {"alice": "alice-secret"})
sbc = t.start_sbc(core_port=core.port,
                  policy="{chain: [acl, scanner, auth], auth: {realm: example.com, "
                         "credentials_file: %s, algorithms: [MD5], ban_after_failures: 3}}" % users)
RURI = "sip:example.com"


def register(peer, credentials=None, user="alice", extra=()):
    lines = list(extra)
    if credentials:
        lines.append("Authorization: " + credentials)
    return advlib.request("REGISTER", RURI, source=peer.address, from_uri="sip:%s@example.com" % user,
                          to_uri="sip:%s@example.com" % user,
                          contact="<sip:%s@%s:%d>" % (user, peer.ip, peer.port), extra=lines)


def final(peer, data, timeout=1.5):
    peer.send(data, t.sbc_address)
    return peer.wait_for(lambda d: (advlib.status_of(d) or 0) >= 200, timeout)


def login(peer, password="alice-secret"):
    """REGISTER, answer the challenge: the final status (None: no answer)."""
    challenge = final(peer, register(peer))
    if challenge is None or advlib.status_of(challenge) != 401:
        return challenge and advlib.status_of(challenge)
    nonce = advlib.challenge_of(challenge)["nonce"]
    answer = final(peer, register(peer, advlib.digest_answer("alice", password, "example.com",
                                                             nonce, "REGISTER", RURI)))
    return answer and advlib.status_of(answer)


# (1) Forged failures with invented nonces, "from" the victim.
victim_ip = "127.0.0.30"
forger = advlib.UdpPeer(victim_ip)
for i in range(10):
    nonce = "%056x" % random.getrandbits(224)
    forger.send(register(forger, advlib.digest_answer("alice", "guess%d" % i, "example.com", nonce,
                                                      "REGISTER", RURI)), t.sbc_address)
forger.close()
advlib.time.sleep(0.3)
bans = sbc.total("sbc_policy_bans_total")
t.check("10 forged failures with foreign nonces ban nobody", bans == 0, bans)
victim = advlib.UdpPeer(victim_ip)
status = login(victim)
t.check("the victim still registers (200)", status == 200, status)
victim.close()

# (2) A real guesser, answering its own nonces: banned at the third failure.
guesser = advlib.UdpPeer("127.0.0.31")
statuses = [login(guesser, "guess%d" % i) for i in range(4)]
t.check("a guesser answering its own nonces is banned after 3 failures",
        statuses[:2] == [401, 401] and statuses[3] is None, statuses)
guesser.close()

# (3) alice authenticated over UDP; a forged scanner datagram from her address.
alice = advlib.UdpPeer("127.0.0.32")
status = login(alice)
t.check("alice registers from 127.0.0.32", status == 200, status)
forger = advlib.UdpPeer("127.0.0.32")
forger.send(register(forger, extra=["User-Agent: friendly-scanner"]), t.sbc_address)
forger.close()
advlib.time.sleep(0.3)
status = login(alice)
t.check("alice still registers after a forged scanner datagram from her address", status == 200,
        status)
alice.close()
core.close()
t.finish()
