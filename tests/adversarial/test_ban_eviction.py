#!/usr/bin/env python3
"""Threat model, item 4: a banned attacker escapes its ban by filling the ban table.

The ban table is bounded (policy.bans.max_entries, here the smallest, 64). Before the fix a new
ban evicted the least recently seen entry of its bucket, active or not (and the buckets were
chosen by an unkeyed FNV-1a, so 8 computed addresses sufficed; here the attacker simply bans 200
forged addresses, more than the whole table holds). The attacker's own ban was evicted and its
packets were answered again.
What must hold: an active ban is never evicted; a full table refuses new entries instead and
counts it in sbc_policy_table_full_total{table="bans"}.

usage: test_ban_eviction.py PATH/TO/sbc
"""

import advlib

t = advlib.Test()
core = advlib.UdpCore()
sbc = t.start_sbc(core_port=core.port,
                  policy="{chain: [acl, scanner], bans: {max_entries: 64}}")
sbc_uri = "sip:127.0.0.1:%d" % t.sbc_port
attacker = advlib.UdpPeer("127.0.1.1")


def scan(peer):
    peer.send(advlib.request("OPTIONS", sbc_uri, source=peer.address,
                             extra=["User-Agent: friendly-scanner"]), t.sbc_address)


def answered(peer):
    peer.send(advlib.request("OPTIONS", sbc_uri, source=peer.address), t.sbc_address)
    data, _ = peer.recv(1.0)
    return data is not None


t.check("before: the attacker's keep-alive is answered", answered(attacker))
scan(attacker)
advlib.time.sleep(0.2)
t.check("the attacker is banned", not answered(attacker))

# 200 forged addresses, each banned by one datagram (bounded: a few thousand bytes each way).
forged = 0
for i in range(200):
    peer = advlib.UdpPeer("127.0.%d.%d" % (2 + i // 250, 1 + i % 250))
    scan(peer)
    peer.close()
    forged += 1
advlib.time.sleep(0.5)
bans = sbc.total("sbc_policy_bans_total")
print("# bans imposed: %d (table of 64 entries)" % bans)
t.check("the attacker's packets are still dropped after %d other bans" % forged,
        not answered(attacker))
t.check("the full table says so (sbc_policy_table_full_total{table=\"bans\"})",
        sbc.total("sbc_policy_table_full_total", table="bans") > 0,
        sbc.total("sbc_policy_table_full_total", table="bans"))
attacker.close()
sbc.stop()

# The same escape at the default size (65536 entries, 8192 buckets of 8), computed: 16 addresses
# whose bucket under the former unkeyed FNV-1a is the attacker's. With a keyed hash (a random key
# at start) the attacker cannot know which addresses share its bucket.


def fnv_bucket(ip, buckets=8192):
    h = 0xcbf29ce484222325
    for b in bytes(10) + b"\xff\xff" + bytes(int(x) for x in ip.split(".")):
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h & (buckets - 1)


attacker_ip = "127.0.1.1"
target = fnv_bucket(attacker_ip)
colliding = []
n = 0
while len(colliding) < 16 and n < 1 << 21:  # about 8192 tries per address
    n += 1
    ip = "127.%d.%d.%d" % (10 + (n >> 16), (n >> 8) & 255, n & 255)
    if fnv_bucket(ip) == target:
        colliding.append(ip)
sbc = t.start_sbc(core_port=core.port, policy="{chain: [acl, scanner]}")
attacker = advlib.UdpPeer(attacker_ip)
t.check("default size: the attacker's keep-alive is answered", answered(attacker))
scan(attacker)
advlib.time.sleep(0.2)
t.check("default size: the attacker is banned", not answered(attacker))
for ip in colliding:
    peer = advlib.UdpPeer(ip)
    scan(peer)
    peer.close()
advlib.time.sleep(0.3)
t.check("default size: 16 bans of addresses in the attacker's FNV-1a bucket do not free it",
        not answered(attacker))
# With the keyed hash they do not even share a bucket: no ban refused for want of room.
t.check("default size: the computed addresses spread over the table (no bucket full)",
        sbc.total("sbc_policy_table_full_total", table="bans") == 0,
        sbc.total("sbc_policy_table_full_total", table="bans"))
attacker.close()
core.close()
t.finish()
