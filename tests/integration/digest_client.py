#!/usr/bin/env python3
"""A Digest client of its own (RFC 7616, SHA-256, qop=auth) over UDP, sharing no code with the
SBC, for the fleet test: it keeps the exact bytes of an accepted REGISTER to replay them.

  digest_client.py replay LOCAL_IP HOST PORT OTHER_PORT USER PASSWORD REALM
      REGISTER to PORT, answer the 401, then send that same answer again to PORT and to
      OTHER_PORT (another replica) from 8 sockets of LOCAL_IP (other source ports reach other
      workers, as an attacker would try). Prints "first STATUS", "again STATUS stale=yes|no",
      and per socket "other STATUS stale=yes|no" (STATUS "timeout" when nothing came back).
  digest_client.py fail LOCAL_IP HOST PORT USER REALM
      REGISTER, then a wrong answer to the nonce issued: prints "challenge STATUS",
      "wrong STATUS".
  digest_client.py burst LOCAL_IP HOST PORTS USER PASSWORD REALM SECONDS
      One socket of LOCAL_IP per port of PORTS (comma-separated: one replica each), each
      challenged once; then for SECONDS, round robin over them, REGISTERs answered with the next
      nonce count of that socket's nonce as fast as answers come (a request dropped costs 0.2 s).
      Prints "accepted N sent M seconds S".
"""
import hashlib
import os
import re
import socket
import sys
import time


def h(text):
    return hashlib.sha256(text.encode()).hexdigest()


class Client:
    def __init__(self, local_ip, host):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((local_ip, 0))
        self.sock.settimeout(2.0)
        self.local_ip, self.host = local_ip, host
        self.port = self.sock.getsockname()[1]
        self.cseq = 0

    def register(self, port, user, realm, authorization=None):
        self.cseq += 1
        branch = "z9hG4bK" + os.urandom(8).hex()
        lines = [
            "REGISTER sip:%s SIP/2.0" % realm,
            "Via: SIP/2.0/UDP %s:%d;branch=%s;rport" % (self.local_ip, self.port, branch),
            "Max-Forwards: 70",
            "From: <sip:%s@%s>;tag=fleet%d" % (user, realm, self.port),
            "To: <sip:%s@%s>" % (user, realm),
            "Call-ID: fleet-%d@%s" % (self.port, self.local_ip),
            "CSeq: %d REGISTER" % self.cseq,
            "Contact: <sip:%s@%s:%d>" % (user, self.local_ip, self.port),
            "Expires: 60",
        ]
        if authorization:
            lines.append("Authorization: " + authorization)
        lines += ["Content-Length: 0", "", ""]
        return "\r\n".join(lines).encode()

    def send(self, port, data):
        self.sock.sendto(data, (self.host, port))
        try:
            while True:
                answer = self.sock.recv(65535).decode(errors="replace")
                status = answer.split(" ", 2)[1]
                if not status.startswith("1"):
                    return status, answer
        except socket.timeout:
            return "timeout", ""


def challenge_of(answer):
    for header in answer.split("\r\n"):
        if header.lower().startswith("www-authenticate:") and "SHA-256" in header:
            return dict(re.findall(r'(\w+)="?([^",]*)"?', header.split(":", 1)[1]))
    return None


def answer_to(params, user, password, realm, uri, nc="00000001", wrong=False):
    cnonce = os.urandom(8).hex()
    ha1 = h("%s:%s:%s" % (user, realm, password + ("x" if wrong else "")))
    ha2 = h("REGISTER:" + uri)
    response = h(":".join([ha1, params["nonce"], nc, cnonce, "auth", ha2]))
    return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
            'algorithm=SHA-256, cnonce="%s", qop=auth, nc=%s') % (
                user, realm, params["nonce"], uri, response, cnonce, nc)


def stale(answer):
    return "yes" if "stale=true" in answer.lower() else "no"


def main():
    mode = sys.argv[1]
    if mode == "replay":
        local_ip, host, port, other, user, password, realm = sys.argv[2:9]
        port, other = int(port), int(other)
        c = Client(local_ip, host)
        status, answer = c.send(port, c.register(port, user, realm))
        params = challenge_of(answer)
        if status != "401" or not params:
            print("first no-challenge-%s" % status)
            return 1
        c.cseq += 1
        accepted = c.register(port, user, realm,
                              answer_to(params, user, password, realm, "sip:" + realm))
        status, _ = c.send(port, accepted)
        print("first", status)
        status, answer = c.send(port, accepted)
        print("again", status, "stale=" + stale(answer))
        for _ in range(8):
            replayer = Client(local_ip, host)
            status, answer = replayer.send(other, accepted)
            print("other", status, "stale=" + stale(answer))
        return 0
    if mode == "fail":
        local_ip, host, port, user, realm = sys.argv[2:7]
        port = int(port)
        c = Client(local_ip, host)
        status, answer = c.send(port, c.register(port, user, realm))
        print("challenge", status)
        params = challenge_of(answer)
        if not params:
            return 1
        status, _ = c.send(port, c.register(port, user, realm, answer_to(
            params, user, "guess", realm, "sip:" + realm, wrong=True)))
        print("wrong", status)
        return 0
    if mode == "burst":
        local_ip, host, ports, user, password, realm, seconds = sys.argv[2:9]
        clients = []
        for port in (int(p) for p in ports.split(",")):
            c = Client(local_ip, host)
            c.sock.settimeout(0.2)
            status, answer = c.send(port, c.register(port, user, realm))
            params = challenge_of(answer)
            if status != "401" or not params:
                print("challenge", status)
                return 1
            clients.append((c, port, params))
        accepted = sent = nc = 0
        start = time.monotonic()
        while time.monotonic() - start < float(seconds):
            for c, port, params in clients:
                nc += 1  # one count for every client: each only needs its own to grow
                sent += 1
                status, _ = c.send(port, c.register(port, user, realm, answer_to(
                    params, user, password, realm, "sip:" + realm, nc="%08x" % nc)))
                accepted += status == "200"
        print("accepted %d sent %d seconds %.2f" % (accepted, sent, time.monotonic() - start))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
