#!/usr/bin/env python3
"""Item 3 of the threat model: registered users made unreachable by flooding the UDP flow table.

A user registers over UDP through the SBC (the fake core records the Path it got). An attacker
then sends many 1-byte datagrams (and invalid requests) from distinct source ports. Before the
fix, every datagram created a flow and a full table evicted the least recently seen peer, so the
core's INVITE to the user through the Path got 430 Flow Failed. It must reach the user."""

import advlib

MAX_FLOWS = 16
t = advlib.Test()
core = advlib.UdpCore()
sbc = t.start_sbc(core_port=core.port, transport="{max_udp_flows: %d}" % MAX_FLOWS)

user = advlib.UdpPeer("127.0.0.1")
contact = "<sip:alice@%s:%d>" % user.address
reg = advlib.request("REGISTER", "sip:example.com", source=user.address,
                     from_uri="sip:alice@example.com", to_uri="sip:alice@example.com",
                     contact=contact, extra=["Expires: 600"])
user.send(reg, t.sbc_address)
ok = user.wait_for(lambda d: advlib.status_of(d) == 200, 3)
t.check("the user registers through the SBC", ok is not None)
registers = core.requests("REGISTER")
path = advlib.header_values(registers[-1], "path") if registers else []
t.check("the core got a Path", bool(path), registers)

# The flood: garbage from many ports of another address (and a few from the user's own address:
# the ports differ), more than the table holds many times over.
attackers = []
for i in range(MAX_FLOWS * 12):
    a = advlib.UdpPeer("127.0.0.66")
    a.send(b"x" if i % 2 else b"INVITE garbage\r\n\r\n", t.sbc_address)
    attackers.append(a)
for i in range(MAX_FLOWS * 4):
    a = advlib.UdpPeer("127.0.0.1")
    a.send(b"\x00", t.sbc_address)
    attackers.append(a)
# Requests that are valid but denied before the relay: a scanner's OPTIONS from many ports.
for i in range(MAX_FLOWS * 2):
    a = advlib.UdpPeer("127.0.0.67")
    a.send(advlib.request("OPTIONS", "sip:bob@example.com", source=a.address,
                          extra=["User-Agent: friendly-scanner"]), t.sbc_address)
    attackers.append(a)
# Valid requests the policies let through (relayed to the core) from many ports: they get flows
# (their answers must reach them) but are unverified, and never push out the user's.
for i in range(MAX_FLOWS * 3):
    a = advlib.UdpPeer("127.0.0.68")
    a.send(advlib.request("MESSAGE", "sip:bob@example.com", source=a.address), t.sbc_address)
    attackers.append(a)
advlib.time.sleep(1.5)
evicted = sbc.total("sbc_udp_flows_evicted_total", event="evicted")
print("unverified flows evicted by the flood: %d" % evicted)
for a in attackers:
    a.close()

# The core calls the user as a real core would: Request-URI = the Contact, Route = the Path.
core.clear()
invite = advlib.request("INVITE", "sip:alice@%s:%d" % user.address, source=core.address,
                        from_uri="sip:bob@example.com", to_uri="sip:alice@example.com",
                        extra=["Route: %s" % path[0]] if path else [])
core.sock.sendto(invite, ("127.0.0.1", t.inside_port))
got = user.wait_for(lambda d: advlib.method_of(d) == "INVITE", 3)
t.check("the user still receives the core's INVITE after the flood", got is not None)
advlib.time.sleep(0.3)
answers = [advlib.status_of(d) for d, _ in core.received if advlib.method_of(d) is None]
t.check("the core got no 430 Flow Failed", 430 not in answers, answers)
t.check("no held flow was demoted", sbc.total("sbc_udp_flows_evicted_total", event="demoted") == 0)

user.close()
core.close()
t.finish()
