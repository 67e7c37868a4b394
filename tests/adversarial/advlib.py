"""Shared pieces of the adversarial suite (tests/adversarial/, CTest label `adversarial`).

Each test is one attack from the threat model (README, "Threat model"), performed against the
real `sbc run` on loopback: it starts the SBC with a configuration of its own, a fake core
(UdpCore: a Python UDP socket that records what reaches it and answers like a registrar/UAS),
and attackers that bind any 127.0.0.0/8 address they like (on Linux every 127/8 address is
local, so a "forged" source is simply a socket bound to it that never reads its answers).

usage in a test:
    import advlib
    t = advlib.Test()                     # argv[1] = PATH/TO/sbc
    core = advlib.UdpCore()
    sbc = t.start_sbc(core_port=core.port)
    ...
    t.check("what must hold", condition, detail)
    t.finish()                            # exit status 0 only when every check held

Every wait is bounded; every process and thread started is stopped at exit.
"""

import http.client
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


# --- ports ------------------------------------------------------------------------------------


def _free(port):
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port_base(count=10):
    """A base port whose `count` following ports are free over UDP and TCP."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - count, 10)
        if all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no free ports")


# --- SIP messages -----------------------------------------------------------------------------


def new_branch():
    return "z9hG4bK" + "%016x" % random.getrandbits(64)


def new_tag():
    return "%012x" % random.getrandbits(48)


def request(method, ruri, *, source=("127.0.0.1", 5060), transport="UDP", branch=None,
            from_uri="sip:alice@example.com", from_tag=None, to_uri=None, to_tag=None,
            call_id=None, cseq=1, contact=None, extra=(), body=b"", max_forwards=70,
            content_type="application/sdp"):
    """A well-formed request from `source` (the address its Via names). `extra` is a list of
    raw header lines ("Name: value") added after the mandatory ones. A body is of
    `content_type` (an SDP body must be one: the relay reads it)."""
    host, port = source
    lines = [
        "%s %s SIP/2.0" % (method, ruri),
        "Via: SIP/2.0/%s %s:%d;branch=%s;rport" % (transport, host, port, branch or new_branch()),
        "Max-Forwards: %d" % max_forwards,
        "From: <%s>;tag=%s" % (from_uri, from_tag or new_tag()),
        "To: <%s>%s" % (to_uri or ruri, ";tag=" + to_tag if to_tag else ""),
        "Call-ID: %s" % (call_id or "%x@adv.test" % random.getrandbits(64)),
        "CSeq: %d %s" % (cseq, method),
    ]
    if contact is not None:
        lines.append("Contact: %s" % contact)
    lines.extend(extra)
    if body:
        lines.append("Content-Type: " + content_type)
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def parse(data):
    """(first line, [(name, value)], body) of a message; header names as written."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            headers[-1] = (headers[-1][0], headers[-1][1] + " " + line.strip())
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return lines[0], headers, body


COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
           "c": "content-type", "k": "supported", "s": "subject", "e": "content-encoding",
           "r": "refer-to", "b": "referred-by", "o": "event", "u": "allow-events", "x": "session-expires",
           "y": "identity", "a": "accept-contact", "j": "reject-contact", "d": "request-disposition"}


def header_values(data, name):
    """Every value of header `name` (case-insensitive, compact forms included)."""
    _, headers, _ = parse(data)
    want = name.lower()
    out = []
    for n, v in headers:
        n = n.lower()
        if COMPACT.get(n, n) == want:
            out.append(v)
    return out


def status_of(data):
    first = parse(data)[0]
    m = re.match(r"SIP/2\.0 (\d{3}) ", first)
    return int(m.group(1)) if m else None


def method_of(data):
    first = parse(data)[0]
    return None if first.startswith("SIP/2.0") else first.split(" ", 1)[0]


def response_to(req, status, reason="OK", to_tag=None, extra=(), body=b""):
    """A response to `req` (bytes) copying its Vias, From, To (with `to_tag` added), Call-ID and
    CSeq: what a core or a user agent answers."""
    _, headers, _ = parse(req)
    lines = ["SIP/2.0 %d %s" % (status, reason)]
    for n, v in headers:
        key = COMPACT.get(n.lower(), n.lower())
        if key in ("via", "from", "call-id", "cseq", "record-route"):
            lines.append("%s: %s" % (n, v))
        elif key == "to":
            if to_tag and ";tag=" not in v:
                v += ";tag=" + to_tag
            lines.append("%s: %s" % (n, v))
    lines.extend(extra)
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --- peers ------------------------------------------------------------------------------------


def arrivals(recv, duration):
    """What recv(timeout) gives, one after another, until `duration` seconds have passed or it
    gives nothing (None, or (None, None) for a datagram socket)."""
    end = time.monotonic() + duration
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        got = recv(left)
        if got is None or got == (None, None):
            return
        yield got


class UdpPeer:
    """A UDP socket bound to (ip, port); port 0 = any."""

    def __init__(self, ip="127.0.0.1", port=0):
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((ip, port))
        self.ip, self.port = self.sock.getsockname()[:2]
        self.address = (self.ip, self.port)

    def send(self, data, to):
        self.sock.sendto(data, to)

    def recv(self, timeout=2.0):
        """The next datagram (bytes, from) within `timeout` seconds, or (None, None)."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None, None
        return self.sock.recvfrom(65536)

    def recv_all(self, duration):
        """Every datagram that arrives within `duration` seconds."""
        return list(arrivals(self.recv, duration))

    def wait_for(self, predicate, timeout=3.0):
        """The first datagram for which predicate(bytes) holds within `timeout`, else None."""
        return next((d for d, _ in arrivals(self.recv, timeout) if predicate(d)), None)

    def close(self):
        self.sock.close()


class UdpCore(UdpPeer):
    """A fake core on 127.0.0.1: records every message it receives (with its source) and answers
    requests from a thread: REGISTER and other non-INVITE requests 200, INVITE 100 then 200 (with
    a Contact and the Record-Route copied), ACK nothing. `answer` may be replaced by a function
    (request bytes) -> list of responses (bytes)."""

    def __init__(self, ip="127.0.0.1", port=0):
        super().__init__(ip, port)
        self.received = []  # (bytes, (ip, port))
        self.lock = threading.Lock()
        self.answer = self.default_answer
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def default_answer(self, req):
        method = method_of(req)
        if method is None or method == "ACK":
            return []
        tag = new_tag()
        if method == "INVITE":
            contact = ["Contact: <sip:core@%s:%d>" % self.address]
            return [response_to(req, 100, "Trying"), response_to(req, 200, "OK", tag, contact)]
        return [response_to(req, 200, "OK", tag)]

    def _serve(self):
        while self.running:
            try:
                data, src = self.recv(0.2)
            except OSError:
                return
            if data is None:
                continue
            with self.lock:
                self.received.append((data, src))
            for out in self.answer(data):
                try:
                    self.sock.sendto(out, src)
                except OSError:
                    pass

    def requests(self, method=None):
        """Requests received so far (bytes), of `method` if given; OPTIONS probes excluded unless
        asked for."""
        with self.lock:
            msgs = [d for d, _ in self.received]
        out = []
        for d in msgs:
            m = method_of(d)
            if m is None:
                continue
            if method is None and m == "OPTIONS":
                continue
            if method is None or m == method:
                out.append(d)
        return out

    def clear(self):
        with self.lock:
            self.received.clear()

    def close(self):
        self.running = False
        self.thread.join(timeout=2)
        super().close()


# --- the SBC ----------------------------------------------------------------------------------


def _die_with_parent():
    # The SBC gets SIGTERM when the test process dies, however it dies (a CTest timeout kills
    # it): no daemon outlives its test.
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Sbc:
    def __init__(self, binary, workdir, yaml_text, metrics_port):
        self.binary = binary
        self.metrics_port = metrics_port
        self.config = os.path.join(workdir, "sbc.yaml")
        with open(self.config, "w") as f:
            f.write(yaml_text)
        self.log_path = os.path.join(workdir, "sbc.log")
        self.proc = None

    def start(self):
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen([self.binary, "run", "--config", self.config],
                                     stdout=self.log_file, stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)
        end = time.monotonic() + 15
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("sbc exited at start:\n" + self.log())
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % self.metrics_port,
                                            timeout=1) as r:
                    if r.status == 200:
                        return self
            # Not listening yet. A connection to a free port of the ephemeral range can meet
            # itself (TCP simultaneous open: it reads back its own GET, BadStatusLine).
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        raise RuntimeError("sbc not ready within 15 s:\n" + self.log())

    def metrics(self):
        """{'name{labels}': value} of one scrape."""
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port,
                                    timeout=5) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            try:
                out[key] = float(value)
            except ValueError:
                pass
        return out

    def value(self, key, default=0.0):
        return self.metrics().get(key, default)

    def total(self, prefix, **labels):
        """Sum of every series of family `prefix` whose labels include `labels`."""
        s = 0.0
        for k, v in self.metrics().items():
            name = k.split("{", 1)[0]
            if name != prefix:
                continue
            if all('%s="%s"' % (lk, lv) in k for lk, lv in labels.items()):
                s += v
        return s

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None


class Test:
    """One adversarial test: argv[1] is the sbc binary; a scratch directory (kept with
    KEEP_WORK=1); checks counted; everything started is stopped at the end."""

    def __init__(self):
        self.binary = os.path.abspath(sys.argv[1])
        self.workdir = tempfile.mkdtemp(prefix="sbc-adv-")
        self.failures = 0
        self.sbcs = []
        self.base = free_port_base(10)
        self.sbc_port = self.base
        self.metrics_port = self.base + 2
        self.inside_port = self.base + 4
        import atexit
        atexit.register(self._cleanup)  # also when a test stops on an exception

    def _cleanup(self):
        for s in self.sbcs:
            s.stop()
        if not os.environ.get("KEEP_WORK"):
            subprocess.call(["rm", "-rf", self.workdir])

    def config(self, core_port=None, extra="", workers=1, listeners=None, policy=None,
               relay=None, transport=None):
        """A configuration: UDP+TCP on 127.0.0.1:sbc_port, the fake core at core_port (UDP, no
        probes), the inside socket on inside_port; `policy`, `relay`, `transport` are YAML flow
        mappings (strings) or None for the defaults; `extra` is appended verbatim."""
        listeners = listeners or [
            "{transport: udp, address: 127.0.0.1, port: %d}" % self.sbc_port,
            "{transport: tcp, address: 127.0.0.1, port: %d}" % self.sbc_port,
        ]
        text = "workers: %d\nlisteners:\n" % workers
        text += "".join("  - %s\n" % l for l in listeners)
        if core_port:
            text += ("core: {targets: [{uri: \"sip:127.0.0.1:%d\"}], local_address: 127.0.0.1, "
                     "local_port: %d, probe_interval_ms: 0}\n" % (core_port, self.inside_port))
        text += "metrics: {port: %d}\n" % self.metrics_port
        if policy:
            text += "policy: %s\n" % policy
        if relay:
            text += "relay: %s\n" % relay
        if transport:
            text += "transport: %s\n" % transport
        text += extra
        return text

    def credentials_file(self, realm, users):
        """A credentials file (MD5 lines) in the work directory for {user: password}; its path."""
        path = os.path.join(self.workdir, "users.txt")
        with open(path, "w") as f:
            for user, password in users.items():
                f.write(credentials_line(user, realm, password) + "\n")
        return path

    def start_sbc(self, yaml_text=None, **kwargs):
        sbc = Sbc(self.binary, self.workdir, yaml_text or self.config(**kwargs),
                  self.metrics_port)
        self.sbcs.append(sbc)
        return sbc.start()

    @property
    def sbc_address(self):
        return ("127.0.0.1", self.sbc_port)

    def check(self, what, condition, detail=""):
        if condition:
            print("ok   - %s" % what)
        else:
            print("FAIL - %s%s" % (what, (": " + str(detail)) if detail != "" else ""))
            self.failures += 1
        sys.stdout.flush()

    def finish(self):
        for s in self.sbcs:
            rc = s.stop()
            if rc not in (0, None):
                print("FAIL - sbc exited %s; its log:\n%s" % (rc, s.log()[-4000:]))
                self.failures += 1
        if self.failures and os.environ.get("SBC_ADV_SHOW_LOG"):
            for s in self.sbcs:
                print(s.log()[-8000:])
        if not os.environ.get("KEEP_WORK"):
            subprocess.call(["rm", "-rf", self.workdir])
        else:
            print("work directory kept: %s" % self.workdir)
        print("%s: %d check(s) failed" % (os.path.basename(sys.argv[0]), self.failures))
        sys.exit(1 if self.failures else 0)


# --- TCP clients and Digest answers (policy tests) ---------------------------------------------


class TcpPeer:
    """A TCP connection from `ip` (any port) to `to`; messages framed by Content-Length."""

    def __init__(self, ip, to, timeout=3.0):
        self.sock = socket.create_connection(to, timeout=timeout, source_address=(ip, 0))
        self.ip, self.port = self.sock.getsockname()[:2]
        self.address = (self.ip, self.port)
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def recv(self, timeout=2.0):
        """The next whole message (bytes) within `timeout` seconds, or None (also when the SBC
        closed the connection)."""
        end = time.monotonic() + timeout
        while True:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*(\d+)", b"\r\n" + head, re.I)
                length = int(m.group(1)) if m else 0
                if len(rest) >= length:
                    self.buffer = rest[length:]
                    return head + sep + rest[:length]
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return None
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return None
            if not chunk:
                return None
            self.buffer += chunk

    def wait_for(self, predicate, timeout=3.0):
        """The first message for which predicate(bytes) holds within `timeout`, else None."""
        return next((d for d in arrivals(self.recv, timeout) if predicate(d)), None)

    def close(self):
        self.sock.close()


def credentials_line(user, realm, password, algorithm="MD5"):
    """A line of the SBC's credentials file (user:realm:algorithm:HA1)."""
    import hashlib
    h = hashlib.md5 if algorithm == "MD5" else hashlib.sha256
    return "%s:%s:%s:%s" % (user, realm, algorithm,
                            h(("%s:%s:%s" % (user, realm, password)).encode()).hexdigest())


def challenge_of(response):
    """{param: value} of the first WWW-Authenticate or Proxy-Authenticate in `response`."""
    values = header_values(response, "www-authenticate") or header_values(response,
                                                                          "proxy-authenticate")
    if not values:
        return {}
    return {k.lower(): v.strip('"') for k, v in
            re.findall(r'([A-Za-z-]+)=("[^"]*"|[^,\s]+)', values[0])}


def digest_answer(user, password, realm, nonce, method, uri, nc=1, cnonce="0a4f113b",
                  algorithm="MD5"):
    """A Digest credentials value (qop=auth) answering `nonce` for METHOD URI."""
    import hashlib
    h = hashlib.md5 if algorithm == "MD5" else hashlib.sha256

    def H(s):
        return h(s.encode()).hexdigest()
    nc_text = "%08x" % nc
    response = H("%s:%s:%s:%s:auth:%s" % (H("%s:%s:%s" % (user, realm, password)), nonce,
                                          nc_text, cnonce, H("%s:%s" % (method, uri))))
    return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
            'algorithm=%s, cnonce="%s", qop=auth, nc=%s'
            % (user, realm, nonce, uri, response, algorithm, cnonce, nc_text))

