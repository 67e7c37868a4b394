#!/usr/bin/env python3
"""Threat model item 14: a NUL byte smuggled through a quoted-pair.

RFC 3261's quoted-pair admits %x00, so `From: "a\\<NUL>b" <sip:...>` is grammatical; a core
written in C reads the header up to the NUL and sees something else than the SBC checked. The SBC
must refuse NUL anywhere in the headers with 400 (a reason naming the defect) and relay nothing.
"""

import advlib

t = advlib.Test()
core = advlib.UdpCore()
sbc = t.start_sbc(core_port=core.port)
peer = advlib.UdpPeer("127.0.0.1")

cases = [
    ("From display name", {"from_display": b'"a\\\x00b" '}),
    ("To display name", {"to_display": b'"a\\\x00b" '}),
    ("Via quoted parameter", {"via_param": b';x-q="a\\\x00b"'}),
    ("Contact display name", {"extra": b'Contact: "c\\\x00d" <sip:alice@127.0.0.1:5070>'}),
    ("opaque header comment", {"extra": b'Subject: hello \x00 world'}),
]


def attack(display_from=b"", display_to=b"", via_param=b"", extra=b""):
    req = advlib.request("MESSAGE", "sip:bob@127.0.0.1:%d" % t.sbc_port,
                         source=peer.address, extra=["X-Marker: nul-test"],
                         body=b"hello", content_type="text/plain")
    req = req.replace(b"From: <", b"From: " + display_from + b"<", 1)
    req = req.replace(b"To: <", b"To: " + display_to + b"<", 1)
    req = req.replace(b";rport", b";rport" + via_param, 1)
    if extra:
        req = req.replace(b"X-Marker: nul-test\r\n", b"X-Marker: nul-test\r\n" + extra + b"\r\n", 1)
    return req


for what, kw in cases:
    core.clear()
    req = attack(kw.get("from_display", b""), kw.get("to_display", b""), kw.get("via_param", b""),
                 kw.get("extra", b""))
    assert b"\x00" in req
    peer.send(req, t.sbc_address)
    answer = peer.wait_for(lambda d: (advlib.status_of(d) or 0) >= 200, timeout=3)
    status = advlib.status_of(answer) if answer else None
    reason = advlib.parse(answer)[0] if answer else ""
    t.check("%s with a NUL: answered 400" % what, status == 400, reason or "no answer")
    t.check("%s with a NUL: the reason names the NUL" % what, "NUL" in reason, reason)
    # Give a relayed copy time to arrive before looking.
    peer.recv_all(0.3)
    got = [r for r in core.requests("MESSAGE") if b"nul-test" in r]
    t.check("%s with a NUL: nothing reached the core" % what, not got,
            "%d message(s), e.g. %r" % (len(got), got[0][:200] if got else b""))

# The same MESSAGE without the NUL is relayed (the test's request is otherwise fine).
core.clear()
peer.send(attack(b'"a\\\\b" '), t.sbc_address)
answer = peer.wait_for(lambda d: (advlib.status_of(d) or 0) >= 200, timeout=3)
t.check("a quoted-pair without NUL is relayed",
        answer is not None and advlib.status_of(answer) == 200
        and any(b"nul-test" in r for r in core.requests("MESSAGE")),
        advlib.parse(answer)[0] if answer else "no answer")

peer.close()
core.close()
t.finish()
