#!/usr/bin/env python3
"""Item 9 of the threat model: a peer that stops reading.

A client registers over TCP with a tiny receive buffer and never reads again. The fake core then
sends it many large MESSAGEs through its Path, as a real core delivering messages would. Before
the fix every relayed message was queued on the connection without bound (the SBC's memory grew
by what the core sent). The queue must stay bounded: at the bound the connection is closed and
counted, and the core's later requests get an error answer at once."""

import socket

import advlib

MESSAGES = int(advlib.os.environ.get("ADV_MESSAGES", "600"))
BODY = 30000

t = advlib.Test()
core = advlib.UdpCore()
sbc = t.start_sbc(core_port=core.port)

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
client.bind(("127.0.0.1", 0))
client.connect(t.sbc_address)
addr = client.getsockname()
contact = "<sip:carol@%s:%d;transport=tcp>" % addr
reg = advlib.request("REGISTER", "sip:example.com", source=addr, transport="TCP",
                     from_uri="sip:carol@example.com", to_uri="sip:carol@example.com",
                     contact=contact, extra=["Expires: 600"])
client.sendall(reg)
client.settimeout(3)
answer = client.recv(65536)
t.check("the client registers over TCP", advlib.status_of(answer) == 200, answer[:60])
registers = core.requests("REGISTER")
path = advlib.header_values(registers[-1], "path") if registers else []
t.check("the core got a Path", bool(path))

# The client stops reading. The core sends large MESSAGEs down its flow.
advlib.time.sleep(0.3)
rss_before = sbc.rss_kib()
core.clear()
body = b"x" * BODY
for i in range(MESSAGES):
    msg = advlib.request("MESSAGE", "sip:carol@%s:%d;transport=tcp" % addr, source=core.address,
                         from_uri="sip:dave@example.com", to_uri="sip:carol@example.com",
                         extra=["Route: %s" % path[0]] if path else [], body=body)
    core.sock.sendto(msg, ("127.0.0.1", t.inside_port))
    advlib.time.sleep(0.004)
advlib.time.sleep(1.0)
rss_after = sbc.rss_kib()
grown = (rss_after - rss_before) / 1024.0
sent_mib = MESSAGES * BODY / 1048576.0
print("relayed toward the stalled client: %.1f MiB; SBC RSS grew by %.1f MiB" % (sent_mib, grown))
# Under AddressSanitizer freed memory sits in quarantine: RSS says nothing there.
with open(t.binary, "rb") as f:
    asan = b"__asan_init" in f.read()
if not asan:
    t.check("the SBC's memory stays bounded (grew < 10 MiB for %.1f MiB sent)" % sent_mib,
            grown < 10, "%.1f MiB" % grown)
closed = sbc.total("sbc_stream_connections_closed_total", reason="send_queue_full")
t.check("the stalled connection was closed and counted", closed >= 1, closed)
answers = [advlib.status_of(d) for d, _ in core.received if advlib.method_of(d) is None]
failed = sum(1 for s in answers if s in (430, 503))
t.check("the core's later requests get an error answer (430/503)", failed > 0,
        sorted(set(answers)))

client.close()
core.close()
t.finish()
