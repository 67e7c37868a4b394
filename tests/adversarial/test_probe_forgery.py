#!/usr/bin/env python3
"""Threat model item 6 (the probe half): the core marked down by forged answers to health probes.

The SBC probes its core with OPTIONS; a 503 answer marks the core down and every caller gets 503
from the SBC. The probe's branch was "z9hG4bKsbP" + core index + a counter: whoever can put a
datagram on the inside socket with the core's address (a forged source; the socket filter is
another defence) guesses every branch and forges the 503s. Probe branches must be unpredictable
and answers to no outstanding probe ignored (and counted).

Here the attacker sends from the fake core's own socket: the forged source is perfect, only the
branch stands in the way.
"""

import threading
import time

import advlib

t = advlib.Test()
core = advlib.UdpCore()


def slow_probe_answers(req):
    # A core under some load: its answers to probes take 50 ms, so the forged ones arrive first.
    if b"Call-ID: probe-" in req:
        time.sleep(0.05)
    return core.default_answer(req)


core.answer = slow_probe_answers
yaml_text = t.config() + (
    "core: {targets: [{uri: \"sip:127.0.0.1:%d\"}], local_address: 127.0.0.1, local_port: %d, "
    "probe_interval_ms: 300}\n" % (core.port, t.inside_port))
sbc = t.start_sbc(yaml_text)
inside = ("127.0.0.1", t.inside_port)
time.sleep(0.8)  # a few real probes answered 200

probes = core.requests("OPTIONS")
t.check("the core is probed", len(probes) >= 2, len(probes))
branches = [advlib.header_values(p, "via")[0].split("branch=")[1].split(";")[0] for p in probes]
print("probe branches seen by the core: %s" % branches[:3])


def forged_503(branch):
    call_id = "probe-00-%s@127.0.0.1" % branch[-8:]
    return ("SIP/2.0 503 Service Unavailable\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\n"
            "From: <sip:sbc@127.0.0.1>;tag=probe\r\n"
            "To: <sip:127.0.0.1:%d>;tag=forged\r\n"
            "Call-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            % (t.inside_port, branch, core.port, call_id)).encode()


def guesses():
    # The old layout: index 00, sequence 0..63 (probes every interval since start). And the same
    # counters written as 16 hex digits, in case the layout merely grew.
    for seq in range(64):
        yield "z9hG4bKsbP00%08x" % seq
        yield "z9hG4bKsbP00%016x" % seq


stop = threading.Event()
sent_forged = [0]


def flood():
    # Forged 503s for every guess, over and over, from the core's own address.
    while not stop.is_set():
        for branch in guesses():
            core.sock.sendto(forged_503(branch), inside)
            sent_forged[0] += 1
        time.sleep(0.02)


attacker = threading.Thread(target=flood, daemon=True)
attacker.start()
client = advlib.UdpPeer("127.0.0.51")
refused = 0
tries = 8
for i in range(tries):
    time.sleep(0.25)
    client.send(advlib.request("OPTIONS", "sip:bob@127.0.0.1:%d" % t.sbc_port,
                               source=client.address, cseq=i + 1,
                               extra=["X-Try: %d" % i]), t.sbc_address)
    answer = client.wait_for(lambda d: (advlib.status_of(d) or 0) >= 200, 3)
    if answer is None or advlib.status_of(answer) == 503:
        refused += 1
stop.set()
attacker.join(timeout=5)
print("forged answers sent: %d" % sent_forged[0])

t.check("forged 503s do not make the SBC refuse callers (503)", refused == 0,
        "%d of %d requests answered 503" % (refused, tries))
t.check("the core stays up", sbc.value('sbc_core_up{core="0"}') == 1.0,
        sbc.value('sbc_core_up{core="0"}'))
ignored = sbc.total("sbc_relay_messages_dropped_total", reason="probe_mismatch")
t.check("forged probe answers are counted", ignored >= sent_forged[0] * 0.5, ignored)

client.close()
core.close()
t.finish()
