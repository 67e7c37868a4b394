#!/usr/bin/env python3
"""Malformed SDP toward the core: an INVITE's body is the input of every SDP parser behind the
SBC (the core's, a PBX's, a media server's, rtpengine's), and a classic way in (oversized
fields, control bytes, missing lines, absurd counts). Before, the relay passed any body
untouched. Each malformed body here must get 400 with a reason naming the defect and never
reach the core; a well-formed one must still go through, in any spelling of its type."""
import advlib

t = advlib.Test()
core = advlib.UdpCore()
sbc = t.start_sbc(core_port=core.port)
client = advlib.UdpPeer("127.0.0.23")

GOOD = ("v=0\r\no=alice 1 1 IN IP4 127.0.0.23\r\ns=-\r\nc=IN IP4 127.0.0.23\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n")


def sdp(*replace):
    text = GOOD
    for old, new in zip(replace[::2], replace[1::2]):
        text = text.replace(old, new)
    return text


ATTACKS = [
    ("a port out of range", sdp("m=audio 4000", "m=audio 99999"), "port out of range"),
    ("no connection address", sdp("c=IN IP4 127.0.0.23\r\n", ""), "no connection address"),
    ("a NUL byte in the session name", sdp("s=-", "s=a\x00b"), "control character"),
    ("no version line", sdp("v=0\r\n", ""), "v= missing"),
    ("an address that is none", sdp("c=IN IP4 127.0.0.23", "c=IN IP4 127.0.0.999"),
     "bad address"),
    ("17 media sections", GOOD + "m=audio 4002 RTP/AVP 0\r\n" * 16, "too many m= sections"),
    ("a body of 20 KiB", GOOD + "a=x-pad:" + "A" * 20000 + "\r\n", "body too large"),
    ("a payload type over 127", sdp("RTP/AVP 0 101", "RTP/AVP 0 300"),
     "payload type out of range"),
    ("a malformed crypto line", GOOD + "a=crypto:1 AES_CM_128_HMAC_SHA1_80\r\n",
     "malformed crypto"),
    ("lines out of order", sdp("s=-\r\n", "", "t=0 0\r\n", "t=0 0\r\ns=-\r\n"), "s="),
]

for i, (what, body, reason) in enumerate(ATTACKS):
    core.clear()
    # One attacker address each: the scanner stage would rightly ban one that gets nothing but
    # refusals, and this test is about the relay's reading of the body.
    attacker = advlib.UdpPeer("127.0.0.%d" % (40 + i))
    req = advlib.request("INVITE", "sip:bob@example.com", source=attacker.address,
                         body=body.encode("latin-1"))
    attacker.send(req, t.sbc_address)
    answer = attacker.wait_for(lambda d: (advlib.status_of(d) or 0) >= 200, timeout=3)
    line = advlib.parse(answer)[0] if answer else "nothing"
    arrived = core.requests("INVITE")
    t.check("%s: 400 naming it (%s), nothing reached the core (%d)" % (what, line, len(arrived)),
            answer is not None and advlib.status_of(answer) == 400 and "SDP: " in line
            and reason in line and not arrived)

# A well-formed offer goes through, whatever the spelling of its type.
for content_type in ("application/sdp", "APPLICATION/SDP;charset=utf-8"):
    core.clear()
    req = advlib.request("INVITE", "sip:bob@example.com", source=client.address,
                         body=GOOD.encode())
    req = req.replace(b"Content-Type: application/sdp", b"Content-Type: " + content_type.encode())
    client.send(req, t.sbc_address)
    answer = client.wait_for(lambda d: advlib.status_of(d) == 200, timeout=3)
    arrived = core.requests("INVITE")
    t.check("a well-formed offer (%s) reaches the core and is answered (%d arrived)"
            % (content_type, len(arrived)), answer is not None and len(arrived) == 1
            and GOOD.encode() in arrived[0])

refused = sbc.value('sbc_relay_rejections_total{reason="bad_sdp"}')
t.check("the refusals are counted (%s)" % refused, refused == len(ATTACKS))
t.finish()
