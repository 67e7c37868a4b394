#!/usr/bin/env python3
"""Item 6 of the threat model (the socket half): the core marked down from outside.

The SBC probes its core with OPTIONS. A perfectly informed attacker on another loopback address
(it sees each probe, as if it sniffed the inside network) answers every probe with a forged 503,
sent to the SBC's inside socket before the real core's 200. Before the fix the inside socket took
datagrams from any sender: the core was marked down and every call got 503. The inside socket
must take only the configured core's ip:port; the core stays up and calls go through."""

import advlib

t = advlib.Test()
core = advlib.UdpCore()
attacker = advlib.UdpPeer("127.0.0.99")
forged = {"n": 0, "on": False}


def answer(req):
    # The attacker answers each probe first (its 503 leaves before the core's 200).
    if forged["on"] and advlib.method_of(req) == "OPTIONS":
        with core.lock:
            src = core.received[-1][1]
        attacker.send(advlib.response_to(req, 503, "Service Unavailable", advlib.new_tag()), src)
        forged["n"] += 1
    return core.default_answer(req)


core.answer = answer
yaml = t.config(extra=("core: {targets: [{uri: \"sip:127.0.0.1:%d\"}], local_address: 127.0.0.1, "
                       "local_port: %d, probe_interval_ms: 100}\n" % (core.port, t.inside_port)))
sbc = t.start_sbc(yaml)
forged["on"] = True
advlib.time.sleep(1.5)
t.check("the attacker forged answers to probes", forged["n"] >= 5, forged)
up = sbc.total("sbc_core_up")
t.check("the core is still up", up == 1, up)

# A call goes through to the core.
user = advlib.UdpPeer("127.0.0.1")
core.clear()
for i in range(3):
    invite = advlib.request("INVITE", "sip:bob@example.com", source=user.address,
                            contact="<sip:alice@%s:%d>" % user.address)
    user.send(invite, t.sbc_address)
    final = user.wait_for(lambda d: (advlib.status_of(d) or 0) >= 200, 3)
    t.check("call %d answered 200 (not 503)" % i, final is not None and advlib.status_of(final) == 200,
            final and advlib.parse(final)[0])
t.check("the core got the INVITEs", len(core.requests("INVITE")) >= 3, len(core.requests("INVITE")))
dropped = sbc.total("sbc_inside_dropped_total", reason="not_a_core")
t.check("the forged answers were dropped and counted", dropped >= 5, dropped)

forged["on"] = False
user.close()
attacker.close()
core.close()
t.finish()
