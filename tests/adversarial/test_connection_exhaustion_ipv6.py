#!/usr/bin/env python3
"""Threat model 5 over IPv6: one /64 (what one customer gets) or one /48 must not hold every
connection slot. Before, the cap per source was per exact address, so the 2^64 addresses of one
/64 could take all of max_connections. The test adds documentation-range-like ULA addresses
(fd00:5eb::/48) to the loopback interface for its run (root, as CI runs; removed at exit), then
connects from many addresses of one /64 and of other /64s of the same /48."""
import atexit
import os
import socket
import subprocess

import advlib

PREFIX = "fd00:5eb:0"  # the /48 under attack
OTHER = "fd00:5ec:0:1::1"  # a client from another network
ADDRESSES = ["%s:1::%x" % (PREFIX, i + 1) for i in range(12)] + \
            ["%s:%x::1" % (PREFIX, n + 2) for n in range(12)] + [OTHER]


def ip(*args):
    return subprocess.call(["ip"] + list(args), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)


added = []
for a in ADDRESSES:
    if ip("-6", "addr", "add", a + "/128", "dev", "lo", "nodad") == 0:
        added.append(a)
atexit.register(lambda: [ip("-6", "addr", "del", a + "/128", "dev", "lo") for a in added])

t = advlib.Test()
t.check("the test's IPv6 addresses could be added to lo (run as root; uid %d)" % os.getuid(),
        len(added) == len(ADDRESSES), "%d of %d" % (len(added), len(ADDRESSES)))
listeners = ["{transport: tcp, address: '::', port: %d}" % t.sbc_port,
             "{transport: udp, address: 127.0.0.1, port: %d}" % t.sbc_port]
sbc = t.start_sbc(listeners=listeners,
                  transport="{max_connections: 40, max_connections_per_source: 4, "
                            "max_connections_per_ipv6_48: 10, reserved_connections_percent: 10}")
held = []


def connect(source):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(2)
    s.connect(("::1", t.sbc_port))
    held.append(s)
    return s


def served(s):
    """Whether the SBC serves this connection: an OPTIONS to the SBC itself gets its 200."""
    host, port = s.getsockname()[:2]
    try:
        s.sendall(advlib.request("OPTIONS", "sip:[::1]", source=("[%s]" % host, port),
                                 transport="TCP"))
        return advlib.status_of(s.recv(65536)) == 200
    except OSError:
        return False


def count_served(sources):
    n = 0
    for source in sources:
        try:
            if served(connect(source)):
                n += 1
        except OSError:
            pass
    return n


# Twelve addresses of one /64, three connections each: the /64 is one source (cap 4).
one_64 = [a for a in ADDRESSES if a.startswith(PREFIX + ":1::")]
in_64 = count_served([a for a in one_64 for _ in range(3)])
t.check("one /64 holds at most max_connections_per_source (4) connections (%d served)" % in_64,
        in_64 == 4)
# Twelve other /64s of the same /48: the /48 is capped at 10 connections in all.
other_64s = [a for a in ADDRESSES if a not in one_64 and a != OTHER]
in_48 = count_served(other_64s)
t.check("one /48 holds at most max_connections_per_ipv6_48 (10) connections (%d served)"
        % (in_64 + in_48), in_64 + in_48 == 10)
other = connect(OTHER)
t.check("a client from another network is still served", served(other))
refused = sbc.total("sbc_stream_connections_refused_total", reason="source") + \
    sbc.total("sbc_stream_connections_refused_total", reason="network")
t.check("the excess connections were refused and counted (%d of 38)" % refused, refused == 38)
for s in held:
    s.close()
t.finish()
