#!/usr/bin/env python3
"""Threat model 1, identity injection: trust-domain headers (RFC 3325 / RFC 7315) from the outside
never reach the core. The attack that worked before: a MESSAGE with 40 P-Asserted-Identity lines
(more than the message editor's 32 edits) reached the core with 11 of them. Here every spelling
is tried (long and compact names, any case, interleaved with other headers so that no two
removals are adjacent), the RFC 7315 headers are in the default list, and a response from the
outside (a user agent answering the core) is cleaned too."""
import time

import advlib

t = advlib.Test()
core = advlib.UdpCore()
sbc = t.start_sbc(core_port=core.port)
client = advlib.UdpPeer("127.0.0.21")

TRUST_HEADERS = ["P-Asserted-Identity", "P-Preferred-Identity", "Remote-Party-ID",
                 "P-Charging-Vector", "P-Charging-Function-Addresses"]


def injected(count, interleave):
    lines = []
    for i in range(count):
        # Interleaved: every name in turn with a filler between; else runs of one name.
        name = TRUST_HEADERS[(i % len(TRUST_HEADERS)) if interleave
                             else (i * len(TRUST_HEADERS) // count)]
        if i % 3 == 1:
            name = name.upper()
        elif i % 3 == 2:
            name = name.lower()
        lines.append("%s: <sip:ceo%d@bank.example>" % (name, i))
        if interleave:
            lines.append("X-Filler-%d: %d" % (i, i))
    return lines


def trust_headers_in(data):
    return sum(len(advlib.header_values(data, h)) for h in TRUST_HEADERS)


for method in ("MESSAGE", "OPTIONS", "INFO", "PUBLISH", "INVITE"):
    for interleave in (False, True):
        core.clear()
        req = advlib.request(method, "sip:bob@example.com", source=client.address,
                             extra=injected(40, interleave) + (["Event: presence"]
                                                               if method == "PUBLISH" else []))
        client.send(req, t.sbc_address)
        answer = client.wait_for(lambda d: (advlib.status_of(d) or 0) >= 200, timeout=3)
        arrived = core.requests(method)
        leaked = sum(trust_headers_in(d) for d in arrived)
        what = "%s with 40 trust-domain headers%s" % (method, " interleaved" if interleave else "")
        t.check("%s: no trust-domain header reaches the core (%d did, %d requests arrived)"
                % (what, leaked, len(arrived)), leaked == 0)
        if not interleave:
            # Adjacent lines are removed in one edit: the request is relayed, cleaned.
            t.check("%s: relayed cleaned (%d arrived)" % (what, len(arrived)), len(arrived) == 1)
        else:
            # More removals than the editor can make: the request is refused with a reason
            # naming the defect, never relayed with some left.
            status = advlib.status_of(answer) if answer else None
            t.check("%s: relayed cleaned, or refused with 400 (arrived %d, answer %s)"
                    % (what, len(arrived), status),
                    (len(arrived) == 1 and leaked == 0) or (len(arrived) == 0 and status == 400))

# A response from the outside: the core sends a MESSAGE down to a registered user, who answers
# with identity headers of its own. First register the user through the SBC.
user = advlib.UdpPeer("127.0.0.22")
reg = advlib.request("REGISTER", "sip:example.com", source=user.address,
                     from_uri="sip:carol@example.com", to_uri="sip:carol@example.com",
                     contact="<sip:carol@%s:%d>" % user.address, extra=["Expires: 600"])
core.clear()
user.send(reg, t.sbc_address)
ok = user.wait_for(lambda d: advlib.status_of(d) == 200, timeout=3)
t.check("the user registered through the SBC", ok is not None)
regs = core.requests("REGISTER")
path = advlib.header_values(regs[0], "path")[0] if regs else ""
t.check("the core got a Path", path != "", regs)
if path:
    msg = advlib.request("MESSAGE", "sip:carol@%s:%d" % user.address, source=core.address,
                         from_uri="sip:alice@example.com", to_uri="sip:carol@example.com",
                         extra=["Route: %s" % path])
    core.clear()
    core.send(msg, ("127.0.0.1", t.inside_port))
    down = user.wait_for(lambda d: advlib.method_of(d) == "MESSAGE", timeout=3)
    t.check("the core's MESSAGE reached the user", down is not None)
    if down:
        answer = advlib.response_to(down, 200, "OK", advlib.new_tag(), extra=injected(12, True))
        user.send(answer, t.sbc_address)
        end = time.monotonic() + 3
        responses = []
        while time.monotonic() < end and not responses:
            with core.lock:
                responses = [d for d, _ in core.received if advlib.status_of(d) == 200]
            time.sleep(0.05)
        t.check("the user's 200 reached the core", len(responses) == 1)
        leaked = sum(trust_headers_in(d) for d in responses)
        t.check("no trust-domain header of the user's response reaches the core (%d did)" % leaked,
                leaked == 0)

core.close()
t.finish()
