#!/usr/bin/env python3
"""A bounded UDP flood of OPTIONS for the fleet test, spread over several SBC replicas.

  udp_flood.py METHOD HOST PORTS SOURCES COUNT [PACE_MS]
      METHOD: OPTIONS, REGISTER or INVITE. PORTS: comma-separated SIP ports (one per replica); SOURCES:
      comma-separated local addresses (one socket each). Sends COUNT requests in all, round robin
      over sources and ports, one every PACE_MS (default 0), then listens 1 s more. Prints
      "sent N answered M seconds S": M final answers of any status (whatever passed the rate
      limits), S from the first request to the last one sent. The User-Agent is Linphone/5.2,
      or $UDP_FLOOD_UA.
"""
import os
import select
import socket
import sys
import time


def main():
    method, host = sys.argv[1], sys.argv[2]
    ports = [int(p) for p in sys.argv[3].split(",")]
    sources = sys.argv[4].split(",")
    count = int(sys.argv[5])
    pace = float(sys.argv[6]) / 1000 if len(sys.argv) > 6 else 0
    agent = os.environ.get("UDP_FLOOD_UA", "Linphone/5.2")
    socks = []
    for source in sources:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((source, 0))
        s.setblocking(False)
        socks.append(s)
    answered = 0

    def drain(timeout):
        nonlocal answered
        ready, _, _ = select.select(socks, [], [], timeout)
        for s in ready:
            while True:
                try:
                    data = s.recv(65535)
                except BlockingIOError:
                    break
                if data.startswith(b"SIP/2.0 ") and not data.startswith(b"SIP/2.0 1"):
                    answered += 1

    start = time.monotonic()
    for i in range(count):
        s = socks[i % len(socks)]
        port = ports[(i // len(socks)) % len(ports)]
        source, local_port = s.getsockname()
        msg = ("%s sip:%s:%d SIP/2.0\r\n"
               "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bKfl%s;rport\r\n"
               "Max-Forwards: 70\r\nFrom: <sip:flood@%s>;tag=%d\r\nTo: <sip:%s>\r\n"
               "Contact: <sip:flood@%s:%d>\r\n"
               "Call-ID: flood%d-%s@%s\r\nCSeq: 1 %s\r\nUser-Agent: %s\r\n"
               "Content-Length: 0\r\n\r\n") % (method, host, port, source, local_port,
                                              os.urandom(6).hex(), source, i, host, source,
                                              local_port, i,
                                              os.urandom(4).hex(), source, method, agent)
        try:
            s.sendto(msg.encode(), (host, port))
        except OSError:
            pass
        drain(pace)
    elapsed = time.monotonic() - start
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        drain(0.05)
    print("sent %d answered %d seconds %.2f" % (count, answered, elapsed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
