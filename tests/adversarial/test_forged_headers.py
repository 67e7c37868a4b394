#!/usr/bin/env python3
"""Threat model 11 and 12: what a client writes must not choose where the core believes it is,
nor which core gets its request.
11. Forged client addresses: a client's own received and rport in its Via were kept, so the core
    saw an address the client chose. Must hold: the real source replaces them.
12. Steering with a preloaded Route: Route entries from the outside passed to the core, and the
    first foreign Route naming a configured core picked that core (even a backup or one marked
    down). Must hold: foreign Route entries are removed; our routing alone picks the core."""
import advlib

t = advlib.Test()
primary = advlib.UdpCore()
backup = advlib.UdpCore()
config = t.config(core_port=primary.port).replace(
    'targets: [{uri: "sip:127.0.0.1:%d"}]' % primary.port,
    'targets: [{uri: "sip:127.0.0.1:%d", priority: 1}, {uri: "sip:127.0.0.1:%d", priority: 2}]'
    % (primary.port, backup.port))
sbc = t.start_sbc(config)
client = advlib.UdpPeer("127.0.0.41")

# 11: received/rport of the client's own choosing.
msg = advlib.request("MESSAGE", "sip:bob@example.com", source=("10.1.2.3", 5060),
                     branch="z9hG4bKforged1")
msg = msg.replace(b";branch=z9hG4bKforged1;rport",
                  b";branch=z9hG4bKforged1;received=198.51.100.66;rport=6666")
client.send(msg, t.sbc_address)
client.wait_for(lambda d: (advlib.status_of(d) or 0) >= 200)
got = primary.requests("MESSAGE")
vias = advlib.header_values(got[0], "via") if got else []
client_via = next((v for v in vias if "z9hG4bKforged1" in v), "")
t.check("the MESSAGE reached the core", client_via != "", vias)
t.check("the client's received (198.51.100.66) is gone: %s" % client_via,
        "198.51.100.66" not in client_via)
t.check("the client's rport (6666) is gone", "6666" not in client_via)
t.check("received and rport say where it really is (127.0.0.41:%d)" % client.port,
        "received=127.0.0.41" in client_via and "rport=%d" % client.port in client_via)

# 12: a preloaded Route naming the backup core (and one naming a host elsewhere).
for n, routes in enumerate([["<sip:127.0.0.1:%d;lr>" % backup.port],
                            ["<sip:192.0.2.99:5060;lr>", "<sip:127.0.0.1:%d;lr>" % backup.port]]):
    primary.clear()
    backup.clear()
    req = advlib.request("MESSAGE", "sip:bob@example.com", source=client.address,
                         extra=["Route: " + r for r in routes])
    client.send(req, t.sbc_address)
    client.wait_for(lambda d: (advlib.status_of(d) or 0) >= 200)
    on_primary, on_backup = primary.requests("MESSAGE"), backup.requests("MESSAGE")
    t.check("preloaded Route %d: the request goes to the primary core (primary %d, backup %d)"
            % (n + 1, len(on_primary), len(on_backup)), len(on_primary) == 1 and not on_backup)
    left = advlib.header_values(on_primary[0], "route") if on_primary else []
    t.check("preloaded Route %d: no Route of the client's reaches the core (%s)" % (n + 1, left),
            on_primary and not left)
t.check("the removals are counted (sbc_relay_foreign_routes_removed_total = %d)"
        % sbc.value("sbc_relay_foreign_routes_removed_total"),
        sbc.value("sbc_relay_foreign_routes_removed_total") == 2)

primary.close()
backup.close()
t.finish()
