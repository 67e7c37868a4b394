#!/usr/bin/env python3
"""Threat model, item 10: `auth.mode: core` bans trusted peers, and forged UDP feeds the count.

The core authenticates; the SBC counts the core's refusals (403, or 401/407 to a request with
credentials) towards a ban. Before the fix every 403 counted, trusted peers included: a trunk in
policy.acl.trusted whose calls the core refuses (a barred number, say) was banned after
ban_after_failures of them, and every call from it was dropped.
What must hold: a trusted peer is never banned by the core's refusals; a refusal earned over UDP
(an address anyone can forge) bans that source on UDP only, so the same address over TCP is still
served; an untrusted UDP source is still banned on UDP.

usage: test_core_refusals.py PATH/TO/sbc
"""

import advlib

t = advlib.Test()
core = advlib.UdpCore()
core.answer = lambda req: ([] if advlib.method_of(req) in (None, "ACK") else
                           [advlib.response_to(req, 403, "Forbidden", advlib.new_tag())])
sbc = t.start_sbc(core_port=core.port,
                  policy="{chain: [acl, auth], acl: {trusted: [127.0.0.40/32]}, "
                         "auth: {mode: core, ban_after_failures: 3}}")


def message(peer, transport="UDP"):
    return advlib.request("MESSAGE", "sip:bob@example.com", source=peer.address,
                          transport=transport, from_uri="sip:trunk@example.com")


def refused(peer):
    """Sends a MESSAGE; True when the core's 403 comes back."""
    peer.send(message(peer), t.sbc_address)
    data = peer.wait_for(lambda d: (advlib.status_of(d) or 0) >= 200, 1.5)
    return data is not None and advlib.status_of(data) == 403


# A trusted trunk the core keeps refusing.
trunk = advlib.UdpPeer("127.0.0.40")
answers = sum(refused(trunk) for _ in range(8))
t.check("the trusted trunk gets all 8 of the core's 403s (never banned)", answers == 8, answers)
trunk.close()

# An untrusted UDP source: banned on UDP after 3 refusals...
ip = "127.0.0.41"
udp = advlib.UdpPeer(ip)
answers = [refused(udp) for _ in range(4)]
t.check("an untrusted UDP source is banned after 3 refusals (UDP)", answers == [True] * 3 + [False],
        answers)
udp.close()
# ... and that address over TCP (verified by the handshake) still reaches the core.
tcp = advlib.TcpPeer(ip, t.sbc_address)
tcp.send(message(tcp, "TCP"))
data = tcp.wait_for(lambda d: (advlib.status_of(d) or 0) >= 200, 3.0)
t.check("the same address over TCP is still served (UDP evidence bans UDP only)",
        data is not None and advlib.status_of(data) == 403, data)
tcp.close()

# A TCP source (its address verified by the handshake) refused 3 times: banned everywhere.
tcp = advlib.TcpPeer("127.0.0.42", t.sbc_address)
answers = []
for _ in range(4):
    tcp.send(message(tcp, "TCP"))
    data = tcp.wait_for(lambda d: (advlib.status_of(d) or 0) >= 200, 1.5)
    answers.append(data is not None and advlib.status_of(data) == 403)
tcp.close()
t.check("a TCP source refused 3 times is banned (TCP)", answers == [True] * 3 + [False], answers)
udp = advlib.UdpPeer("127.0.0.42")
t.check("... and over UDP too (the ban's evidence was verified)", not refused(udp))
udp.close()
print("# core refusals counted: %d" % sbc.total("sbc_auth_core_refusals_total"))
core.close()
t.finish()
