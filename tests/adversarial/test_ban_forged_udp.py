#!/usr/bin/env python3
"""Threat model, item 4: a ban turned against its victim by one forged datagram.

The attacker forges one UDP datagram from the victim's address (127.0.0.5) carrying a scanner
User-Agent. The scanner stage bans that address; before the fix the ban held on every transport,
so the victim, who talks over TCP (an address the handshake verified), lost its service.
What must hold: evidence from an unverified UDP source bans that source on UDP only; the victim's
TCP connection still gets answers (its keep-alive and a relayed request), while UDP from the
banned address is still dropped (the ban does its job where the evidence came from). A trusted
peer (policy.acl.trusted) is never banned by such a datagram.

usage: test_ban_forged_udp.py PATH/TO/sbc
"""

import advlib

t = advlib.Test()
core = advlib.UdpCore()
sbc = t.start_sbc(core_port=core.port,
                  policy="{chain: [acl, scanner, rate_limit, sips, methods], "
                         "acl: {trusted: [127.0.0.6/32]}}")
victim_ip, trusted_ip = "127.0.0.5", "127.0.0.6"
sbc_uri = "sip:127.0.0.1:%d" % t.sbc_port


def keepalive(source, transport="UDP"):
    return advlib.request("OPTIONS", sbc_uri, source=source, transport=transport)


# The forgery: one datagram "from" each address, answers never read.
for ip in (victim_ip, trusted_ip):
    forger = advlib.UdpPeer(ip)
    forger.send(advlib.request("OPTIONS", sbc_uri, source=forger.address,
                               extra=["User-Agent: friendly-scanner"]), t.sbc_address)
    forger.close()
advlib.time.sleep(0.3)
t.check("the forged scanner datagram was banned", sbc.total("sbc_policy_bans_total") >= 1,
        sbc.total("sbc_policy_bans_total"))

# UDP from the banned address: dropped (the scanner defence still works where it was seen).
udp = advlib.UdpPeer(victim_ip)
udp.send(keepalive(udp.address), t.sbc_address)
data, _ = udp.recv(1.0)
t.check("UDP from the banned address is still dropped", data is None, data)
udp.close()

# The victim over TCP: its keep-alive and a request relayed to the core are answered.
tcp = advlib.TcpPeer(victim_ip, t.sbc_address)
tcp.send(keepalive(tcp.address, "TCP"))
answer = tcp.recv(2.0)
t.check("the victim's TCP keep-alive is answered 200", answer is not None and
        advlib.status_of(answer) == 200, answer)
core.clear()
tcp.send(advlib.request("MESSAGE", "sip:bob@example.com", source=tcp.address, transport="TCP",
                        from_uri="sip:victim@example.com"))
answer = tcp.wait_for(lambda d: (advlib.status_of(d) or 0) >= 200, 3.0)
t.check("the victim's TCP MESSAGE reaches the core and its 200 comes back",
        answer is not None and advlib.status_of(answer) == 200 and
        len(core.requests("MESSAGE")) == 1, (answer, len(core.requests("MESSAGE"))))
tcp.close()

# The trusted peer, over UDP: never banned.
peer = advlib.UdpPeer(trusted_ip)
peer.send(keepalive(peer.address), t.sbc_address)
data, _ = peer.recv(2.0)
t.check("the trusted peer's UDP keep-alive is answered 200",
        data is not None and advlib.status_of(data) == 200, data)
peer.close()

core.close()
t.finish()
