#!/usr/bin/env python3
"""Threat model 7, reflection: an INVITE with a forged UDP source (the victim's address) used to
draw the relay's 100 Trying and every retransmission of the core's final answer (timer G) to a
victim that never ACKs: one 259-byte INVITE drew 12 datagrams, 5,576 bytes (x21.5). Must hold:
what the SBC sends to an unproved UDP source stays within 3x what it received from it (the QUIC
anti-amplification rule, RFC 9000 section 8), the first final answer being the one exception a
transaction needs; an authenticated or stream source is not limited."""
import time

import advlib

t = advlib.Test()
core = advlib.UdpCore()


def busy(req):
    # The core refuses every INVITE at once (a final answer the relay retransmits until ACKed).
    if advlib.method_of(req) == "INVITE":
        return [advlib.response_to(req, 486, "Busy Here", advlib.new_tag(),
                                   extra=["Server: core"])]
    return core.default_answer(req)


core.answer = busy
# Short timers so that timer G's whole run (64*T1) fits in the test.
sbc = t.start_sbc(core_port=core.port, relay="{timers: {t1_ms: 100, t2_ms: 400}}")
victim = advlib.UdpPeer("127.0.0.51")  # the forged source: receives, never answers

sent_bytes = 0
for i in range(3):
    invite = advlib.request("INVITE", "sip:%d@example.com" % (100 + i), source=victim.address,
                            from_uri="sip:x@example.com")
    sent_bytes += len(invite)
    victim.send(invite, t.sbc_address)
received = victim.recv_all(8.0)  # 64*T1 = 6.4 s: every retransmission timer G would make
received_bytes = sum(len(d) for d, _ in received)
factor = received_bytes / sent_bytes
print("3 INVITEs, %d bytes, from a forged source drew %d datagrams, %d bytes: x%.1f"
      % (sent_bytes, len(received), received_bytes, factor))
finals = [d for d, _ in received if advlib.status_of(d) == 486]
t.check("each INVITE still got its final answer once (%d)" % len(finals), len(finals) >= 3)
t.check("bytes to the unproved source at most 3x what it sent (x%.1f)" % factor, factor <= 3.0)
dropped = sbc.total("sbc_relay_messages_dropped_total", reason="amplification")
t.check("what was not sent is counted (%d)" % dropped, dropped >= 1)

core.close()
t.finish()
