#!/usr/bin/env python3
"""Threat model item 8: memory exhaustion through transactions.

Each transaction kept two full copies of its request (as it arrived, as relayed) for as long as it
lived: an INVITE refused by the core (486) and never ACKed by its sender stays 32 s (timer H),
one the core only rings (180) stays until timer C (3 minutes). 200 INVITEs of 60 KB grew the SBC
by ~24 MiB; at the table's capacity that is gigabytes per worker.

Must hold: what a transaction keeps is proportional to what it needs (a finished INVITE keeps its
answer and an ACK skeleton, not the 60 KB request), and the bytes are bounded per worker by
relay.max_transaction_bytes: over it, 503 with Retry-After (counted as reason "memory").
"""

import os
import threading
import time

import advlib

BUDGET = 4 << 20  # relay.max_transaction_bytes for this test
COUNT = 200
BODY = 60000

# Under ASan freed memory waits in a quarantine (256 MiB) instead of being reused: RSS would
# measure the quarantine, not what the transactions keep. No effect on other builds.
os.environ["ASAN_OPTIONS"] = ":".join(
    o for o in (os.environ.get("ASAN_OPTIONS", ""), "quarantine_size_mb=0") if o)

t = advlib.Test()
core = advlib.UdpCore()


def refuse_invites(req):
    if advlib.method_of(req) == "INVITE":
        return [advlib.response_to(req, 486, "Busy Here", advlib.new_tag())]
    return core.default_answer(req)


def ring_only(req):
    if advlib.method_of(req) == "INVITE":
        return [advlib.response_to(req, 180, "Ringing", advlib.new_tag())]
    return core.default_answer(req)


relay = None if os.environ.get("SBC_ADV_NO_BUDGET") else "{max_transaction_bytes: %d}" % BUDGET
sbc = t.start_sbc(core_port=core.port, relay=relay,
                  policy="{rate_limit: {invite: {rate: 10000, burst: 10000}}}")
time.sleep(0.3)
base = sbc.rss_kib()
peak = [base]
sampling = threading.Event()


def sample():
    while not sampling.is_set():
        try:
            peak[0] = max(peak[0], sbc.rss_kib())
        except OSError:
            return
        time.sleep(0.02)


sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
body = (b"v=0\r\n" + b"a=x-pad:" + b"p" * (BODY - 20) + b"\r\n")[:BODY]
# Not application/sdp: an SDP this size is refused (400) before any transaction holds it; the
# memory budget is about large requests the relay does take (ISUP, multipart, ...).
BODY_TYPE = "application/octet-stream"


def flood(peer, n, tag):
    """n large INVITEs from `peer`, never ACKed; returns {status: count} of their final answers
    and how many 503s carried Retry-After. Like a UAC (timer A), an INVITE without a final answer
    is sent again every second: on a loaded machine a 60 KB datagram can overflow a socket
    buffer on loopback, and that loss is not what this test is about."""
    requests = {}
    for i in range(n):
        call_id = "%s-%d@adv.test" % (tag, i)
        requests[call_id] = advlib.request("INVITE", "sip:bob@127.0.0.1:%d" % t.sbc_port,
                                           source=peer.address, call_id=call_id, body=body,
                                           content_type=BODY_TYPE)
        peer.send(requests[call_id], t.sbc_address)
        time.sleep(0.002)
    finals, retry_after = {}, 0
    seen = set()
    end = time.monotonic() + 8
    resend_at = time.monotonic() + 1
    while len(seen) < n and time.monotonic() < end:
        if time.monotonic() >= resend_at:
            for call_id, req in requests.items():
                if call_id not in seen:
                    peer.send(req, t.sbc_address)
            resend_at = time.monotonic() + 1
        data, _ = peer.recv(0.5)
        if data is None:
            continue
        status = advlib.status_of(data)
        call_id = (advlib.header_values(data, "call-id") or [""])[0]
        if status is None or status < 200 or call_id in seen:
            continue  # provisional, or a retransmission of a final
        seen.add(call_id)
        finals[status] = finals.get(status, 0) + 1
        if status == 503 and advlib.header_values(data, "retry-after"):
            retry_after += 1
    return finals, retry_after


# Phase 1: the core refuses every INVITE (486); the attacker never ACKs.
core.answer = refuse_invites
a = advlib.UdpPeer("127.0.0.61")
finals, _ = flood(a, COUNT, "refused")
time.sleep(0.5)
growth_refused = (peak[0] - base) / 1024.0
print("486 phase: finals %s, RSS %d KiB -> peak %d KiB (+%.1f MiB)"
      % (finals, base, peak[0], growth_refused))
t.check("every large INVITE got a final answer", sum(finals.values()) == COUNT, finals)
t.check("peak RSS growth with never-ACKed 486s stays far below two copies per transaction "
        "(%d x 2 x 60 KB = %.1f MiB)" % (COUNT, COUNT * 2 * BODY / 1048576.0),
        growth_refused < 10, "%.1f MiB" % growth_refused)

# Phase 2: the core only rings: the transactions live on (timer C), each needing its request.
core.answer = ring_only
b = advlib.UdpPeer("127.0.0.62")
finals, retry_after = flood(b, COUNT, "ringing")
time.sleep(0.5)
sampling.set()
sampler.join(timeout=2)
growth = (peak[0] - base) / 1024.0
refused = sbc.total("sbc_relay_rejections_total", reason="memory")
print("180 phase: finals %s (503 with Retry-After: %d), rejections{reason=memory} %d, "
      "peak +%.1f MiB" % (finals, retry_after, refused, growth))
t.check("over the budget, INVITEs get 503", finals.get(503, 0) > COUNT / 2, finals)
t.check("every 503 carries Retry-After", retry_after == finals.get(503, 0),
        "%d of %d" % (retry_after, finals.get(503, 0)))
t.check("the refusals are counted (reason memory)", refused == finals.get(503, 0), refused)
ringing = len([r for r in core.requests("INVITE") if b"ringing-" in r])
t.check("the core got only what the budget admits (%d of %d)" % (ringing, COUNT),
        0 < ringing <= BUDGET // BODY + 1, ringing)
t.check("peak RSS growth bounded by the budget (%.0f MiB) plus slack" % (BUDGET / 1048576.0),
        growth < BUDGET / 1048576.0 + 8, "%.1f MiB" % growth)

a.close()
b.close()
core.close()
t.finish()
