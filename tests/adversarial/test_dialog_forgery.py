#!/usr/bin/env python3
"""Threat model 2, authentication bypass into the core. With `auth` in the chain, the auth stage
used to skip every request with a To tag (REGISTER included), and the relay's dialog check only
verified that a Record-Route token opened and named the sender's address. So after one
legitimate call, its caller (or anyone behind the same NAT) could send an INVITE with an invented
To tag and Call-ID to any Request-URI (a premium number), or a REGISTER for another user with a
To tag: both reached the core without credentials. Must hold: REGISTER is never in-dialog; a
dialog token opens only its own dialog; a forged one gets 481 and is counted."""
import advlib

t = advlib.Test()
core = advlib.UdpCore()
creds = t.credentials_file("example.com", {"alice": "wonderland", "bob": "builder"})
policy = ("{chain: [acl, scanner, rate_limit, sips, methods, auth], auth: {realm: example.com, "
          "credentials_file: %s, algorithms: [MD5]}}" % creds)
sbc = t.start_sbc(core_port=core.port, policy=policy)
alice = advlib.UdpPeer("127.0.0.31")


def final(peer, timeout=3):
    return peer.wait_for(lambda d: (advlib.status_of(d) or 0) >= 200, timeout)


# The legitimate call: INVITE, 407, INVITE with credentials, the core's 200 with its
# Record-Route (our sealed entry), ACK.
call_id = "real-call@127.0.0.31"
invite = advlib.request("INVITE", "sip:bob@example.com", source=alice.address, from_tag="a1",
                        call_id=call_id, contact="<sip:alice@%s:%d>" % alice.address)
alice.send(invite, t.sbc_address)
challenge = final(alice)
t.check("the first INVITE is challenged (407)", challenge and advlib.status_of(challenge) == 407,
        challenge)
ok = None
if challenge:
    alice.send(advlib.request("ACK", "sip:bob@example.com", source=alice.address, from_tag="a1",
                              call_id=call_id, to_tag=advlib.header_values(challenge, "to")[0]
                              .split("tag=")[1]), t.sbc_address)
    answer = advlib.digest_answer("alice", "wonderland", "example.com",
                                  advlib.challenge_of(challenge)["nonce"], "INVITE",
                                  "sip:bob@example.com")
    invite2 = advlib.request("INVITE", "sip:bob@example.com", source=alice.address,
                             from_tag="a1", call_id=call_id, cseq=2,
                             contact="<sip:alice@%s:%d>" % alice.address,
                             extra=["Proxy-Authorization: " + answer])
    alice.send(invite2, t.sbc_address)
    ok = alice.wait_for(lambda d: advlib.status_of(d) == 200, timeout=3)
t.check("the authenticated INVITE reaches the core and its 200 comes back", ok is not None)
route = advlib.header_values(ok, "record-route")[0] if ok else ""
to_tag = advlib.header_values(ok, "to")[0].split("tag=")[1] if ok else "x"
if ok:
    alice.send(advlib.request("ACK", "sip:core@127.0.0.1", source=alice.address, from_tag="a1",
                              call_id=call_id, cseq=2, to_tag=to_tag,
                              extra=["Route: " + route]), t.sbc_address)
invites_before = len(core.requests("INVITE"))
refused_before = sbc.total("sbc_relay_rejections_total", reason="dialog")

# The attack from the same address: the call's own entry, an invented dialog to a premium number.
forged = advlib.request("INVITE", "sip:+19005550100@premium.example", source=alice.address,
                        from_tag="f1", to_tag="invented", call_id="invented@127.0.0.31",
                        contact="<sip:alice@%s:%d>" % alice.address, extra=["Route: " + route])
alice.send(forged, t.sbc_address)
answer = final(alice)
status = advlib.status_of(answer) if answer else None
reached = [d for d in core.requests("INVITE")[invites_before:] if b"premium" in d]
t.check("an INVITE in an invented dialog with a real call's entry never reaches the core "
        "(%d reached it)" % len(reached), not reached)
t.check("it gets 481 (got %s)" % status, status == 481)
refused = sbc.total("sbc_relay_rejections_total", reason="dialog") - refused_before
t.check("and is counted (sbc_relay_rejections_total{reason=\"dialog\"} +%d)" % refused,
        refused == 1)

# The same with the real Call-ID but other tags: another dialog, 481 as well.
forged2 = advlib.request("INVITE", "sip:+19005550101@premium.example", source=alice.address,
                         from_tag="f2", to_tag="invented2", call_id=call_id, cseq=9,
                         extra=["Route: " + route])
alice.send(forged2, t.sbc_address)
answer = final(alice)
reached = [d for d in core.requests("INVITE") if b"19005550101" in d]
t.check("real Call-ID, invented tags: not relayed (%d), 481 (%s)"
        % (len(reached), advlib.status_of(answer) if answer else None),
        not reached and answer is not None and advlib.status_of(answer) == 481)

# A REGISTER for another user with a To tag (and the entry): challenged, never relayed.
regs_before = len(core.requests("REGISTER"))
register = advlib.request("REGISTER", "sip:example.com", source=alice.address,
                          from_uri="sip:bob@example.com", to_uri="sip:bob@example.com",
                          to_tag="anything", contact="<sip:mallory@127.0.0.31:5999>",
                          extra=["Route: " + route, "Expires: 3600"])
alice.send(register, t.sbc_address)
answer = final(alice)
status = advlib.status_of(answer) if answer else None
t.check("a REGISTER with a To tag for another user is challenged (401, got %s)" % status,
        status == 401)
t.check("and never reaches the core (%d did)" % (len(core.requests("REGISTER")) - regs_before),
        len(core.requests("REGISTER")) == regs_before)

# Her real dialog still works: a BYE with the right Call-ID and tags reaches the core.
bye = advlib.request("BYE", "sip:core@127.0.0.1", source=alice.address, from_tag="a1",
                     to_tag=to_tag, call_id=call_id, cseq=3, extra=["Route: " + route])
alice.send(bye, t.sbc_address)
answer = final(alice)
t.check("the real dialog's BYE is relayed (200, got %s)"
        % (advlib.status_of(answer) if answer else None),
        answer is not None and advlib.status_of(answer) == 200 and core.requests("BYE"))

core.close()
t.finish()
