#!/usr/bin/env python3
"""Threat model item 15: credentials in captures, and capture files opened through symlinks.

1. Captures hold Digest answers: with a capture of every message (and of rejected ones), anyone who
   reads the pcap runs an offline dictionary attack on the `response` of Authorization and
   Proxy-Authorization. They must be redacted by default (capture.redact_credentials), with the
   pcap still readable and `sbc replay` still replaying the requests.
2. Whoever can write to the capture directory plants a symlink at the next file name: the SBC must
   not write through it (O_CREAT|O_EXCL|O_NOFOLLOW), must say so (log, counter), and must create
   every capture file with mode 0600 at once.
"""

import os
import random
import socket
import stat
import struct
import subprocess
import time

import advlib

t = advlib.Test()
core = advlib.UdpCore()
capdir = os.path.join(t.workdir, "capture")
os.mkdir(capdir)
capture = "capture: {enabled: true, directory: %s, what: all, max_file_bytes: 4096}\n" % capdir
sbc = t.start_sbc(core_port=core.port, extra=capture)


def hexstr(n):
    return "%0*x" % (n, random.getrandbits(4 * n))


secrets = []


def digest(header, n=32, folded=False):
    secret = hexstr(n)
    secrets.append(secret)
    sep = ",\r\n  " if folded else ", "
    return ('%s: Digest username="alice", realm="sbc", nonce="%s", uri="sip:127.0.0.1"%s'
            'Response = "%s", algorithm=%s' % (header, hexstr(32), sep, secret,
                                               "MD5" if n == 32 else "SHA-256"))


def register(peer, extra, transport="UDP"):
    return advlib.request("REGISTER", "sip:127.0.0.1:%d" % t.sbc_port, source=peer.address,
                          transport=transport, from_uri="sip:alice@127.0.0.1",
                          to_uri="sip:alice@127.0.0.1",
                          contact="<sip:alice@%s:%d>" % peer.address, extra=extra)


# Relayed requests (captured with what: all): Authorization, Proxy-Authorization in lower case with
# a folded line and SHA-256, and over TCP.
a = advlib.UdpPeer("127.0.0.41")
a.send(register(a, [digest("Authorization")]), t.sbc_address)
a.wait_for(lambda d: advlib.status_of(d) == 200, 3)
b = advlib.UdpPeer("127.0.0.42")
b.send(register(b, [digest("proxy-authorization", 64, folded=True)]), t.sbc_address)
b.wait_for(lambda d: advlib.status_of(d) == 200, 3)
tcp = socket.create_connection(t.sbc_address, timeout=3)
tcp.sendall(register(advlib.UdpPeer("127.0.0.1"), [digest("Authorization")], transport="TCP"))
try:
    tcp.recv(65536)
except OSError:
    pass
# A rejected request (scanner User-Agent) with credentials.
c = advlib.UdpPeer("127.0.0.43")
c.send(register(c, ["User-Agent: friendly-scanner", digest("Authorization")]), t.sbc_address)
time.sleep(0.5)

# The symlink planted at the next file names: one to an existing file, one dangling.
files = sorted(f for f in os.listdir(capdir) if f.endswith(".pcap"))
t.check("a capture file exists", files, os.listdir(capdir))
victim = os.path.join(t.workdir, "victim.txt")
with open(victim, "w") as f:
    f.write("precious\n")
dangling = os.path.join(t.workdir, "created-through-symlink")
last = int(files[-1][4:12]) if files else 1
os.symlink(victim, os.path.join(capdir, "sbc-%08d.pcap" % (last + 1)))
os.symlink(dangling, os.path.join(capdir, "sbc-%08d.pcap" % (last + 2)))
# Enough traffic to rotate past both names (4 KiB files).
d = advlib.UdpPeer("127.0.0.44")
for i in range(30):
    d.send(advlib.request("OPTIONS", "sip:bob@127.0.0.1:%d" % t.sbc_port, source=d.address,
                          extra=["X-Pad: " + "p" * 300]), t.sbc_address)
    d.recv(1)
time.sleep(0.6)

metrics = sbc.metrics()
refused = sbc.total("sbc_capture_files_refused_total")
log = sbc.log()
victim_bytes = open(victim, "rb").read()
t.check("the existing file behind the symlink is untouched", victim_bytes == b"precious\n",
        "%d bytes, starting %r" % (len(victim_bytes), victim_bytes[:8]))
t.check("nothing created through the dangling symlink", not os.path.exists(dangling))
t.check("both planted names counted as refused", refused == 2, refused)
t.check("the log names a refused file", any("sbc-%08d.pcap" % (last + i) in log for i in (1, 2)),
        [l for l in log.splitlines() if "capture" in l][-3:])
files = sorted(f for f in os.listdir(capdir) if f.endswith(".pcap")
               and not os.path.islink(os.path.join(capdir, f)))
t.check("capture went on in later files", len(files) >= 2, files)
modes = {f: stat.S_IMODE(os.stat(os.path.join(capdir, f)).st_mode) for f in files}
t.check("every capture file has mode 0600", all(m == 0o600 for m in modes.values()),
        {f: oct(m) for f, m in modes.items()})

sbc.stop()


def pcap_payloads(path):
    """Transport payloads of a LINKTYPE_RAW pcap; raises on a malformed file."""
    data = open(path, "rb").read()
    magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", data[:24])
    assert magic == 0xa1b2c3d4 and linktype == 101, (hex(magic), linktype)
    pos, out = 24, []
    while pos < len(data):
        _, _, caplen, length = struct.unpack("<IIII", data[pos:pos + 16])
        assert caplen == length and pos + 16 + caplen <= len(data)
        pkt = data[pos + 16:pos + 16 + caplen]
        pos += 16 + caplen
        if pkt[0] >> 4 == 4:
            ihl = (pkt[0] & 15) * 4
            total = struct.unpack(">H", pkt[2:4])[0]
            assert total == len(pkt)
            proto, body = pkt[9], pkt[ihl:]
        else:
            proto, body = pkt[6], pkt[40:]
        if proto == 17:
            ulen = struct.unpack(">H", body[4:6])[0]
            assert ulen == len(body)
            out.append(body[8:])
        else:
            out.append(body[(body[12] >> 4) * 4:])
    return out


everything = b""
payloads = []
parsed_ok = True
for f in files:
    p = os.path.join(capdir, f)
    everything += open(p, "rb").read()
    try:
        payloads += pcap_payloads(p)
    except Exception as e:  # noqa: BLE001 - any parse failure is a failed check
        parsed_ok = False
        print("cannot parse %s: %r" % (f, e))
t.check("every capture file parses as pcap with consistent lengths", parsed_ok)
registers = b"".join(x for x in payloads if x.startswith(b"REGISTER"))
t.check("the four REGISTERs with credentials were captured", registers.count(b"REGISTER sip") == 4,
        registers.count(b"REGISTER sip"))
leaked = [s for s in secrets if s.encode() in everything]
t.check("no Digest response value is in the capture files", not leaked,
        "%d of %d found" % (len(leaked), len(secrets)))
t.check("the redacted values keep their length",
        registers.count(b'"' + b"0" * 32 + b'"') == 3 and registers.count(b'"' + b"0" * 64 + b'"') == 1)

# `sbc replay` still reads the files and replays the REGISTERs as valid requests.
replayed = 0
for f in files:
    r = subprocess.run([t.binary, "replay", "--config", sbc.config, os.path.join(capdir, f)],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0 or "Malformed" in r.stdout:
        print(r.stdout, r.stderr)
        replayed = -100
    for line in r.stdout.splitlines():
        if line.startswith("  pass "):
            replayed += int(line.split()[1])
t.check("sbc replay replays the capture (no malformed credentials)", replayed >= 3, replayed)

for p in (a, b, c, d):
    p.close()
tcp.close()
core.close()
t.finish()
