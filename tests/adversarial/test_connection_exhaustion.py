#!/usr/bin/env python3
"""Item 5 of the threat model: connection exhaustion from one network.

The TCP cap per source was per exact address: the hosts of one network (about 100 IPv4 hosts, or
one IPv6 /64) held every one of max_connections and every other client was refused. Must hold:
a cap per network (IPv4 /24 here; IPv6 /64 and /48 in the unit tests), a share of the slots kept
for trusted and authenticated peers, and a banned source's open connections closed."""

import socket

import advlib

MAX = 20
t = advlib.Test()
sbc = t.start_sbc(
    transport="{max_connections: %d, max_connections_per_source: 100, "
              "max_connections_per_ipv4_24: 8, reserved_connections_percent: 10}" % MAX,
    policy="{acl: {trusted: [127.0.99.0/24]}}")
held = []


def connect(ip):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((ip, 0))
    s.settimeout(2)
    s.connect(t.sbc_address)
    held.append(s)
    return s


def served(s):
    """Whether the SBC serves this connection: an OPTIONS to the SBC itself gets its 200."""
    ip, port = s.getsockname()
    try:
        s.sendall(advlib.request("OPTIONS", "sip:127.0.0.1", source=(ip, port), transport="TCP"))
        return advlib.status_of(s.recv(65536)) == 200
    except OSError:
        return False


# A banned source's open connections are closed.
victim = connect("127.0.7.1")
t.check("a client from 127.0.7.1 is served", served(victim))
scanner = connect("127.0.7.1")
ip, port = scanner.getsockname()
scanner.sendall(advlib.request("OPTIONS", "sip:100@127.0.0.1", source=(ip, port), transport="TCP",
                               extra=["User-Agent: friendly-scanner"]))
advlib.time.sleep(2.5)
try:
    victim.settimeout(1)
    closed = victim.recv(100) == b""
except ConnectionResetError:
    closed = True
except socket.timeout:
    closed = False
t.check("the banned source's other open connection was closed", closed)
for s in held:
    s.close()
held.clear()
advlib.time.sleep(0.5)

# One network (127.0.5.0/24, 40 hosts) tries to take every slot.
for i in range(40):
    try:
        connect("127.0.5.%d" % (i + 1))
    except OSError:
        pass
advlib.time.sleep(0.5)
client = connect("127.0.9.1")
t.check("a client from another network is still served", served(client))
network = sbc.total("sbc_stream_connections_refused_total", reason="network")
t.check("the network's excess connections were refused and counted", network >= 30, network)

# Many networks fill every slot but the reserve: unknown clients are refused, trusted ones served.
for net in range(10, 14):
    for i in range(8):
        try:
            connect("127.0.%d.%d" % (net, i + 1))
        except OSError:
            pass
advlib.time.sleep(0.5)
late = connect("127.0.20.1")
t.check("an unknown client is refused once only the reserve is left", not served(late))
trusted = connect("127.0.99.1")
t.check("a trusted peer is served from the reserve", served(trusted))
reserved = sbc.total("sbc_stream_connections_refused_total", reason="reserved")
t.check("refusals for the reserve are counted", reserved >= 1, reserved)

for s in held:
    s.close()
t.finish()
