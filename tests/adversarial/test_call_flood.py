#!/usr/bin/env python3
"""Toll fraud by concurrent calls: with stolen credentials or from a hijacked PBX, an attacker
opens as many simultaneous calls to premium numbers as the core accepts (each INVITE within any
rate limit, the calls simply never end). Before, nothing bounded calls in progress. With
policy.calls, one source prefix holds at most max_per_source calls: the rest get 403 naming the
limit and never reach the core, another prefix still calls, and a call that ends gives its place
back."""
import time

import advlib

LIMIT = 4
t = advlib.Test()
core = advlib.UdpCore()
held = []  # (INVITE as the core got it, where from): ringing, never answered


def ring(req):
    if advlib.method_of(req) == "INVITE":
        held.append(req)
        return [advlib.response_to(req, 100, "Trying"),
                advlib.response_to(req, 180, "Ringing", advlib.new_tag())]
    return core.default_answer(req)


core.answer = ring
# No rate limit or scanner stage: the attack is not a rate, and refusals must not ban.
sbc = t.start_sbc(core_port=core.port, workers=2,
                  policy="{chain: [acl, sips, methods], calls: {max_per_source: %d, "
                         "source_prefix_v4: 24}}" % LIMIT)

# 20 attackers in one /24, each on its own socket (so over both workers), one call each.
attackers = [advlib.UdpPeer("127.0.0.%d" % (60 + i)) for i in range(20)]
refused = []
for a in attackers:
    a.send(advlib.request("INVITE", "sip:+1900555%04d@example.com" % a.port, source=a.address),
           t.sbc_address)
for a in attackers:
    answer = a.wait_for(lambda d: advlib.status_of(d) is not None, timeout=3)
    if answer is not None and advlib.status_of(answer) == 403:
        refused.append(advlib.parse(answer)[0])
# What the relay sent on has reached the core's socket; its thread may still be reading.
deadline = time.monotonic() + 3
while len(core.requests("INVITE")) < LIMIT and time.monotonic() < deadline:
    time.sleep(0.05)
time.sleep(0.5)
arrived = core.requests("INVITE")
t.check("only %d of 20 concurrent calls from one /24 reached the core (%d)" % (LIMIT, len(arrived)),
        len(arrived) == LIMIT)
t.check("the other %d got 403 naming the limit (%d: %s)"
        % (20 - LIMIT, len(refused), refused[:1]),
        len(refused) == 20 - LIMIT and all("call limit: source" in r for r in refused))

# Another prefix is not held by the attacker's.
other = advlib.UdpPeer("127.0.1.5")
other.send(advlib.request("INVITE", "sip:bob@example.com", source=other.address), t.sbc_address)
# (100 Trying says the call went on.)
t.check("a caller of another /24 still gets through",
        other.wait_for(lambda d: advlib.status_of(d) == 100, timeout=3) is not None)

# One attacker call ends (the core gives up on it with 486): its place is free again, once.
first = held[0]
# Back to the worker that sent it: the inside port its Via names.
sent_by = advlib.header_values(first, "Via")[0].split()[1].split(";")[0]
core.sock.sendto(advlib.response_to(first, 486, "Busy Here", advlib.new_tag()),
                 ("127.0.0.1", int(sent_by.rsplit(":", 1)[1])))
# Its caller hears the 486 only after the relay gave the place back.
heard = None
deadline = time.monotonic() + 3
while heard is None and time.monotonic() < deadline:
    heard = next((a for a in attackers
                  if a.wait_for(lambda d: advlib.status_of(d) == 486, timeout=0.05)), None)
t.check("the caller of the ended call hears its 486", heard is not None)
late = [advlib.UdpPeer("127.0.0.%d" % (90 + i)) for i in range(2)]
statuses = []
for peer in late:
    core.clear()
    peer.send(advlib.request("INVITE", "sip:+19005550000@example.com", source=peer.address),
              t.sbc_address)
    answer = peer.wait_for(lambda d: advlib.status_of(d) is not None, timeout=3)
    statuses.append(advlib.status_of(answer) if answer else None)
t.check("after one call ended, the next goes on and the one after is refused (%s)" % statuses,
        statuses == [100, 403])

counted = sbc.value('sbc_call_limit_rejections_total{scope="source"}')
t.check("the refusals are counted (%s)" % counted, counted == 20 - LIMIT + 1)
attempts = sbc.value('sbc_dialogs_active{state="attempt"}')
t.check("the calls ringing are the limit's plus the other prefix's (%s)" % attempts,
        attempts == LIMIT + 1)
t.finish()
