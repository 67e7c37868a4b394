#!/usr/bin/python3
"""A SIP-over-TLS user agent with SDES-SRTP (RFC 4568, RFC 3711) for srtp_test.sh. Its SRTP is
its own (AES-CM from the `cryptography` package, HMAC-SHA1 from hmac), checked at start against
RFC 3711's test vectors ("SRTP self-test ok"), so that a fault in it is not taken for the SBC's.

  srtp_ua.py call SBC_IP TLS_PORT URI --plain-dump DUMP [--plain-media IP:PORT] [--no-srtp]
             [--hold S]
      INVITE URI with an SDES offer (--no-srtp: plain RTP/AVP); on 2xx ACK, RTP both ways
      between its own media socket (SRTP) and the plain side, the callee's media socket
      (IP:PORT, default 127.0.0.22:40000) sending to the m= port of the INVITE in DUMP (the
      callee's dump), then BYE S seconds (0.5) later. Prints "INVITE <status>", "REASON
      <phrase>", "ANSWER <m= or c= line>", "CRYPTO present|absent", "ANSWER KEY ours|other"
      (whether the answer's a=crypto is our own key sent back), the counts, "BYE <status>".
  srtp_ua.py serve SBC_IP TLS_PORT USER SECONDS --plain-dump DUMP --plain-media IP:PORT
      REGISTERs USER, answers an INVITE in RTP/SAVP with its own a=crypto; once ACKed, RTP both
      ways with the plain side (the caller's media socket, sending to the m= port of the 200 in
      the caller's DUMP); answers the BYE. Prints "REGISTER <status>", "OFFER <m= or c= line>",
      "CRYPTO present|absent", the counts, "BYE received".
The counts: "srtp_to_plain sent N received N payload_ok N" and "plain_to_srtp sent N received N
auth_ok N payload_ok N". Common options: --local IP (bound before connecting; named in Via,
Contact and SDP; its media socket is IP:40000), --dump FILE (every message received, each
followed by a "----" line as sip_ua writes them). Every wait is bounded.
"""
import argparse
import base64
import hashlib
import hmac
import os
import random
import re
import socket
import ssl
import struct
import sys
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SUITE = "AES_CM_128_HMAC_SHA1_80"
COUNT = 30  # RTP packets each way


# --- SRTP (RFC 3711): AES_CM_128_HMAC_SHA1_80, ROC 0 (a short call never wraps its sequence)
def aes_cm(key, iv, data):
    # CTR's 128-bit counter is AES-CM's 16-bit block counter as long as it stays under 2^16.
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def derive(master_key, master_salt, label, length):  # key derivation rate 0: r = 0
    x = int.from_bytes(master_salt, "big") ^ (label << 48)
    return aes_cm(master_key, (x << 16).to_bytes(16, "big"), bytes(length))


def sha1_80(key, data):
    return hmac.new(key, data, hashlib.sha1).digest()[:10]


class Srtp:
    def __init__(self, key_and_salt):
        mk, ms = key_and_salt[:16], key_and_salt[16:30]
        self.key, self.auth = derive(mk, ms, 0, 16), derive(mk, ms, 1, 20)
        self.salt = derive(mk, ms, 2, 14)

    def _crypt(self, packet):  # the packet with its payload en- or decrypted
        h = 12 + 4 * (packet[0] & 0x0F)
        if packet[0] & 0x10:  # a header extension
            h += 4 + 4 * struct.unpack("!H", packet[h + 2:h + 4])[0]
        seq, ssrc = struct.unpack("!H", packet[2:4])[0], struct.unpack("!I", packet[8:12])[0]
        iv = (int.from_bytes(self.salt, "big") << 16) ^ (ssrc << 64) ^ (seq << 16)
        return packet[:h] + aes_cm(self.key, iv.to_bytes(16, "big"), packet[h:])

    def protect(self, packet):
        body = self._crypt(packet)
        return body + sha1_80(self.auth, body + bytes(4))  # bytes(4): the ROC

    def unprotect(self, packet):  # the RTP packet, or None when it does not authenticate
        body, tag = packet[:-10], packet[-10:]
        if len(packet) < 22 or not hmac.compare_digest(sha1_80(self.auth, body + bytes(4)), tag):
            return None
        return self._crypt(body)


def self_test():
    """RFC 3711 B.3 (key derivation), B.2 (AES-CM keystream), and a round trip."""
    s = Srtp(bytes.fromhex("E1F97A0D3E018BE0D64FA32C06DE4139" "0EC675AD498AFEEBB6960B3AABE6"))
    ok = s.key == bytes.fromhex("C61E7A93744F39EE10734AFE3FF7A087")
    ok = ok and s.salt == bytes.fromhex("30CBBC08863D8C85D49DB34A9AE1")
    ok = ok and s.auth == bytes.fromhex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
    stream = aes_cm(bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C"),
                    bytes.fromhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000"), bytes(48))
    ok = ok and stream == bytes.fromhex("E03EAD0935C95E80E166B16DD92B4EB4"
                                        "D23513162B02D0F72A43A2FE4A5F97AB"
                                        "41E95B3BB0A2E8DD477901E4FCA894C0")
    p = struct.pack("!BBHII", 0x80, 0, 7, 1120, 0xABCD) + bytes(range(160))
    sp = s.protect(p)
    ok = ok and s.unprotect(sp) == p and sp[12:172] != p[12:]
    ok = ok and s.unprotect(sp[:-1] + bytes([sp[-1] ^ 1])) is None  # a tampered tag is refused
    print("SRTP self-test " + ("ok" if ok else "FAILED"), flush=True)
    return ok


# --- SIP over TLS
COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact"}


class Msg:
    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.partition("\r\n\r\n")
        self.first, *lines = head.split("\r\n")
        self.headers = []
        for line in lines:
            name, sep, value = line.partition(":")
            if sep:
                name = name.strip().lower()
                self.headers.append((COMPACT.get(name, name), value.strip()))

    def get(self, name):
        return next((v for n, v in self.headers if n == name), "")

    def all(self, name):  # every value, comma-separated lists split (not inside <>)
        return [e.strip() for n, v in self.headers if n == name
                for e in re.split(r",(?![^<]*>)", v)]

    def status(self):
        return int(self.first.split()[1]) if self.first.startswith("SIP/2.0 ") else 0

    def method(self):
        return self.get("cseq").split()[-1] if self.status() else self.first.split()[0]


class Sip:
    local_tag = "%x" % random.getrandbits(32)

    def __init__(self, args):
        self.args, self.buf = args, b""
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.settimeout(5)
        raw.bind((args.local, 0))  # the UA's own loopback address, as the SBC sees it
        raw.connect((args.sbc_ip, args.tls_port))
        self.port = raw.getsockname()[1]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # the SBC's is self-signed
        self.tls = ctx.wrap_socket(raw)  # (raw gives its descriptor away here)

    @staticmethod
    def token():
        return "%x" % random.getrandbits(48)

    def via(self):
        return "SIP/2.0/TLS %s:%d;branch=z9hG4bK%s;rport" % (self.args.local, self.port,
                                                            self.token())

    def contact(self, user):
        return "<sip:%s@%s:%d;transport=tls>" % (user, self.args.local, self.port)

    def send(self, text):
        self.tls.sendall(text.encode())

    def receive(self, deadline):  # the next message, or None at the deadline or on close
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                m = re.search(rb"\r\n(?:content-length|l)\s*:\s*(\d+)", self.buf[:end + 2], re.I)
                total = end + 4 + (int(m.group(1)) if m else 0)
                if len(self.buf) >= total:
                    msg, self.buf = Msg(self.buf[:total].decode(errors="replace")), self.buf[total:]
                    with open(self.args.dump, "a") as f:
                        f.write(msg.raw + "----\n")
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.tls.settimeout(left)
            try:
                data = self.tls.recv(65536)
            except OSError:  # a timeout, or a TLS error
                return None
            if not data:
                return None
            self.buf += data

    def respond(self, req, status, reason, extra="", sdp=""):
        r = "SIP/2.0 %d %s\r\n" % (status, reason)
        r += "".join("Via: %s\r\n" % v for v in req.all("via"))
        if req.method() == "INVITE":
            r += "".join("Record-Route: %s\r\n" % v for v in req.all("record-route"))
        to = req.get("to")
        if ";tag=" not in to and status > 100:
            to += ";tag=" + self.local_tag
        r += "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\n%s" % (
            req.get("from"), to, req.get("call-id"), req.get("cseq"), extra)
        if sdp:
            r += "Content-Type: application/sdp\r\n"
        self.send(r + "Content-Length: %d\r\n\r\n%s" % (len(sdp), sdp))


def final(sip, call_id, method, seconds, show=False):
    """The final answer to (call_id, method) within seconds (with show, 18x printed), or None."""
    deadline = time.monotonic() + seconds
    while (m := sip.receive(deadline)) is not None:
        if m.get("call-id") == call_id and m.method() == method and m.status() >= 200:
            return m
        if show and m.get("call-id") == call_id and m.status() > 100:
            print(method, m.status(), flush=True)
    return None


def sdp(address, proto, key=None, tag=1):
    s = ("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 40000 %s 0\r\n"
         "a=rtpmap:0 PCMU/8000\r\n" % (address, address, proto))
    if key:
        s += "a=crypto:%d %s inline:%s\r\n" % (tag, SUITE, base64.b64encode(key).decode())
    return s


def media_of(body):
    """((c= address, m=audio port), (crypto tag, 30-byte key) or None) of an SDP body."""
    c = re.search(r"^c=IN IP4 (\S+)", body, re.M)
    m = re.search(r"^m=audio (\d+) ", body, re.M)
    k = re.search(r"^a=crypto:(\d+) %s inline:([A-Za-z0-9+/=]+)" % SUITE, body, re.M)
    crypto = (int(k.group(1)), base64.b64decode(k.group(2))[:30]) if k else None
    return (c.group(1) if c else "", int(m.group(1)) if m else 0), crypto


def report_sdp(word, body):
    for line in body.split("\r\n"):
        if line.startswith(("m=", "c=")):
            print(word, line)
    print("CRYPTO", "present" if "a=crypto:" in body else "absent", flush=True)


def plain_destination(dump, first_line):
    """(address, port) of the m=audio of the last message in DUMP whose first line matches: the
    SBC's answer to the plain side, which sip_ua writes there (5 s at most)."""
    for _ in range(100):
        try:
            msgs = [m for m in open(dump).read().split("----\n") if re.match(first_line, m)]
        except OSError:
            msgs = []
        if msgs:
            return media_of(msgs[-1])[0]
        time.sleep(0.05)
    return "", 0


def exchange(local, srtp_dest, tx, rx, plain_bind, plain_dest):
    """COUNT packets each way: SRTP (keyed tx) from local:40000 to srtp_dest must reach
    plain_bind as RTP with the same payload; RTP from plain_bind to plain_dest must reach
    local:40000 as SRTP that authenticates and decrypts (keyed rx) to the payload sent."""
    a, b = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    a.bind((local, 40000))
    b.bind(plain_bind)
    a.setblocking(False)
    b.setblocking(False)
    payload = lambda side, n: bytes((side * 101 + n * 7 + i) & 255 for i in range(160))
    sent = {side: {payload(side, n) for n in range(COUNT)} for side in (1, 2)}
    to_plain, to_srtp = [0, 0], [0, 0, 0]  # received, (auth_ok,) payload_ok

    def drain():
        for s in (a, b):
            while True:
                try:
                    p = s.recv(2048)
                except BlockingIOError:
                    break
                if s is b:
                    to_plain[0] += 1
                    to_plain[1] += p[0] >> 6 == 2 and p[12:] in sent[1]
                    continue
                plain = rx.unprotect(p) if rx else None
                to_srtp[0] += 1
                to_srtp[1] += plain is not None
                to_srtp[2] += plain is not None and plain[12:] in sent[2]

    for n in range(COUNT):
        rtp = lambda side, ssrc: (struct.pack("!BBHII", 0x80, 0, 1000 * side + n, 160 * n, ssrc)
                                  + payload(side, n))
        if all(srtp_dest):
            a.sendto(tx.protect(rtp(1, 0x5151)), srtp_dest)
        if all(plain_dest):
            b.sendto(rtp(2, 0x7272), plain_dest)
        time.sleep(0.01)
        drain()
    time.sleep(0.3)
    drain()
    print("srtp_to_plain sent %d received %d payload_ok %d" % (COUNT, *to_plain))
    print("plain_to_srtp sent %d received %d auth_ok %d payload_ok %d" % (COUNT, *to_srtp),
          flush=True)
    a.close()
    b.close()


def call(args, sip):
    key = os.urandom(30)
    call_id, from_tag, via = sip.token() + "@srtp_ua", sip.token(), sip.via()
    body = sdp(args.local, "RTP/AVP") if args.no_srtp else sdp(args.local, "RTP/SAVP", key)
    head = "From: <sip:alice@example.com>;tag=%s\r\nCall-ID: %s\r\n" % (from_tag, call_id)
    sip.send("INVITE %s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\n%sTo: <%s>\r\nCSeq: 1 INVITE\r\n"
             "Contact: %s\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s"
             % (args.uri, via, head, args.uri, sip.contact("alice"), len(body), body))
    r = final(sip, call_id, "INVITE", 20, show=True)
    print("INVITE", r.status() if r else "timeout", flush=True)
    if not r:
        return False
    print("REASON", r.first.split(" ", 2)[-1], flush=True)
    if r.status() >= 300:  # ACK of a failure: its branch, the To of the answer (RFC 3261 17.1.1.3)
        sip.send("ACK %s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\n%sTo: %s\r\nCSeq: 1 ACK\r\n"
                 "Content-Length: 0\r\n\r\n" % (args.uri, via, head, r.get("to")))
        return True
    # The dialog, as sip_ua keeps it: route set = Record-Route reversed, remote target = Contact.
    routes = "".join("Route: %s\r\n" % e for e in reversed(r.all("record-route")))
    target = re.sub(r"^.*<([^>]*)>.*$", r"\1", r.get("contact"))

    def in_dialog(method, cseq):
        return ("%s %s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\n%s%sTo: %s\r\nCSeq: %d %s\r\n"
                "Content-Length: 0\r\n\r\n"
                % (method, target, sip.via(), routes, head, r.get("to"), cseq, method))

    sip.send(in_dialog("ACK", 1))
    report_sdp("ANSWER", r.body)
    dest, crypto = media_of(r.body)
    print("ANSWER KEY", "ours" if crypto and crypto[1] == key else "other", flush=True)
    exchange(args.local, dest, Srtp(key), Srtp(crypto[1]) if crypto else None, args.plain_media,
             plain_destination(args.plain_dump, r"INVITE "))
    time.sleep(args.hold)  # the call stays up a moment for the test to look at rtpengine
    sip.send(in_dialog("BYE", 2))
    bye = final(sip, call_id, "BYE", 10)
    print("BYE", bye.status() if bye else "timeout", flush=True)
    return bye is not None


def serve(args, sip):
    call_id, from_tag, user = sip.token() + "@srtp_ua", sip.token(), args.user
    sip.send("REGISTER sip:example.com SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\n"
             "From: <sip:%s@example.com>;tag=%s\r\nTo: <sip:%s@example.com>\r\nCall-ID: %s\r\n"
             "CSeq: 1 REGISTER\r\nContact: %s\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n"
             % (sip.via(), user, from_tag, user, call_id, sip.contact(user)))
    deadline = time.monotonic() + args.seconds
    key, offer = os.urandom(30), None
    while (m := sip.receive(deadline)) is not None:
        if m.status():
            if m.get("call-id") == call_id and m.status() >= 200:
                print("REGISTER", m.status(), flush=True)
            continue
        method = m.method()
        print(method, "received", flush=True)
        if method == "INVITE":
            offer = m
            report_sdp("OFFER", m.body)
            crypto = media_of(m.body)[1]
            sip.respond(m, 180, "Ringing", "Contact: %s\r\n" % sip.contact(user))
            sip.respond(m, 200, "OK", "Contact: %s\r\n" % sip.contact(user),
                        sdp(args.local, "RTP/SAVP", key, crypto[0] if crypto else 1))
        elif method == "ACK" and offer is not None:
            dest, crypto = media_of(offer.body)
            exchange(args.local, dest, Srtp(key), Srtp(crypto[1]) if crypto else None,
                     args.plain_media, plain_destination(args.plain_dump, r"SIP/2\.0 200"))
            offer = None
        elif method != "ACK":
            sip.respond(m, 200, "OK")
            if method == "BYE":
                return True
    return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["call", "serve"])
    p.add_argument("sbc_ip")
    p.add_argument("tls_port", type=int)
    p.add_argument("rest", nargs="+")  # call: URI; serve: USER SECONDS
    p.add_argument("--local", default="127.0.0.1")
    p.add_argument("--dump", default=os.devnull)
    p.add_argument("--plain-media", default="127.0.0.22:40000",
                   type=lambda a: (a.rpartition(":")[0], int(a.rpartition(":")[2])))
    p.add_argument("--plain-dump", default=os.devnull)
    p.add_argument("--no-srtp", action="store_true")
    p.add_argument("--hold", type=float, default=0.5)
    args = p.parse_args()
    if not self_test():
        return 1
    try:
        sip = Sip(args)
    except OSError as e:  # the SBC is not there, or its TLS listener refused us
        print("CONNECT failed:", e, flush=True)
        return 1
    if args.mode == "call":
        args.uri = args.rest[0]
        return 0 if call(args, sip) else 1
    args.user, args.seconds = args.rest[0], float(args.rest[1])
    return 0 if serve(args, sip) else 1


if __name__ == "__main__":
    sys.exit(main())
