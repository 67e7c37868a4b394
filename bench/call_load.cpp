// call_load: a SIP load generator for relays (SIPp is not packaged in Debian). Both sides speak
// UDP, TCP or TLS (BoringSSL; the UAC checks no certificate: benchmarks use test certificates).
//
//   call_load uas LISTEN_IP LISTEN_PORT [udp|tcp|tls] [CERT KEY]
//       A stateless user agent server: 200 to INVITE (with Contact and Record-Route copied),
//       BYE, OPTIONS, REGISTER and anything else; nothing to ACK. Runs until killed.
//       An INVITE with an SDP body gets a 200 with an SDP answer (c= LISTEN_IP, one PCMU audio
//       stream; the same text for every call), so that a relay anchoring media sees both halves.
//       Over tcp and tls (tls needs CERT and KEY, PEM files) it accepts many connections, frames
//       messages by Content-Length and answers on the connection the request came on; its
//       Contact then carries ;transport=tcp|tls so that relays route ACK and BYE back over it.
//   call_load uac TARGET_IP TARGET_PORT SCENARIO RATE TOTAL MAX_CONCURRENT SECONDS [udp|tcp|tls]
//       SCENARIO: call (INVITE-200-ACK-BYE-200), options, register. Starts RATE calls per second
//       (at most TOTAL, at most MAX_CONCURRENT at once, for at most SECONDS), retransmits over
//       UDP as RFC 3261 says (T1 = 500 ms), waits up to 8 s for the last ones, and prints one
//       line of key=value results: started, completed, failed, retransmissions, rate achieved,
//       and latency percentiles (request to final answer, microseconds).
//       Over tcp and tls all calls share one connection (a trunk), framed by Content-Length, and
//       nothing is retransmitted (RFC 3261 17.1.1.2: reliable transports).
// Exit status 0 when every started call completed.
//
// Single-threaded, plain POSIX and poll: it has to outrun what it measures, so it parses only
// the few fields it needs and batches what it writes to a stream into one write per pass.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kT1 = std::chrono::milliseconds(500);
constexpr auto kT2 = std::chrono::milliseconds(4000);

// A header's value, by long or compact name, from the start of a line.
std::string_view header(std::string_view m, std::string_view name, std::string_view compact,
                        std::size_t from = 0) {
  const std::size_t end = m.find("\r\n\r\n");
  std::size_t pos = m.find("\r\n", from);
  while (pos != std::string_view::npos && pos < end) {
    const std::size_t line = pos + 2;
    const std::size_t eol = m.find("\r\n", line);
    const std::string_view text = m.substr(line, eol - line);
    const std::size_t colon = text.find(':');
    if (colon != std::string_view::npos) {
      std::string_view n = text.substr(0, colon);
      while (!n.empty() && n.back() == ' ') n.remove_suffix(1);
      auto same = [](std::string_view a, std::string_view b) {
        return a.size() == b.size() &&
               std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
                 return std::tolower(static_cast<unsigned char>(x)) ==
                        std::tolower(static_cast<unsigned char>(y));
               });
      };
      if (same(n, name) || (!compact.empty() && same(n, compact))) {
        std::string_view v = text.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        return v;
      }
    }
    pos = eol;
  }
  return {};
}

// Every line of a header (name as written), for copying into answers.
void copy_lines(std::string_view m, std::string_view name, std::string_view compact,
                std::string& out) {
  const std::size_t end = m.find("\r\n\r\n");
  std::size_t pos = m.find("\r\n");
  while (pos != std::string_view::npos && pos < end) {
    const std::size_t line = pos + 2;
    const std::size_t eol = m.find("\r\n", line);
    const std::string_view text = m.substr(line, eol - line);
    const std::size_t colon = text.find(':');
    if (colon != std::string_view::npos) {
      std::string_view n = text.substr(0, colon);
      while (!n.empty() && n.back() == ' ') n.remove_suffix(1);
      if ((n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) ||
          (!compact.empty() && n.size() == compact.size() &&
           strncasecmp(n.data(), compact.data(), n.size()) == 0)) {
        out.append(text);
        out.append("\r\n");
      }
    }
    pos = eol;
  }
}

sockaddr_in endpoint(const char* ip, const char* port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(port)));
  if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
    std::fprintf(stderr, "call_load: bad IPv4 address %s\n", ip);
    std::exit(2);
  }
  return a;
}

int udp_socket(const sockaddr_in& bind_to) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  int size = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&bind_to), sizeof bind_to) != 0) {
    std::perror("call_load: bind");
    std::exit(2);
  }
  return fd;
}

// Content-Length of a message head (0 when absent), without allocating.
std::size_t content_length(std::string_view head) {
  const std::string_view v = header(head, "Content-Length", "l");
  std::size_t n = 0;
  std::from_chars(v.data(), v.data() + v.size(), n);
  return n;
}

// ---- Streams: TCP and TLS, shared by the UAC's trunk and the UAS's connections -------------

// Test certificates: no verification. Moving write buffer: a write that TLS could not finish is
// retried from the stream's outbox, which may have grown and moved since.
SSL_CTX* tls_context(const char* cert, const char* key) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (cert != nullptr && (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
                          SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)) {
    std::fprintf(stderr, "call_load: cannot load %s / %s\n", cert, key);
    std::exit(2);
  }
  return ctx;
}

// A peer that sends more than this without completing a message, or (to the UAS) that stops
// reading our answers, is not a relay under test: drop it rather than grow without bound.
constexpr std::size_t kMaxInbox = 1 << 20;
constexpr std::size_t kMaxOutbox = 16 << 20;

// One non-blocking TCP or TLS connection, framed by Content-Length (RFC 3261 18.3). Writes go
// to the outbox and leave in flush(), so that a pass's messages share one system call.
struct Stream {
  int fd = -1;
  SSL* ssl = nullptr;
  bool tls_wants_write = false;  // TLS (a handshake flight) waits for the socket to drain
  std::string inbox;             // bytes not yet framed
  std::string outbox;            // bytes the socket has not taken yet

  void close() {
    if (ssl != nullptr) SSL_free(ssl);
    ::close(fd);
  }

  short events() const {
    return static_cast<short>(POLLIN | (outbox.empty() && !tls_wants_write ? 0 : POLLOUT));
  }

  // More readable bytes than poll can see: a TLS record already taken off the socket.
  bool buffered() const { return ssl != nullptr && SSL_has_pending(ssl) != 0; }

  // false: the connection is dead.
  bool flush() {
    // Bounded: each pass takes bytes off the outbox or returns.
    while (!outbox.empty()) {
      std::size_t n;
      if (ssl != nullptr) {
        const int r = SSL_write(ssl, outbox.data(), static_cast<int>(outbox.size()));
        if (r <= 0) {
          const int e = SSL_get_error(ssl, r);
          ERR_clear_error();
          return e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ;
        }
        n = static_cast<std::size_t>(r);
      } else {
        const ssize_t r = ::send(fd, outbox.data(), outbox.size(), MSG_NOSIGNAL);
        if (r < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        n = static_cast<std::size_t>(r);
      }
      outbox.erase(0, n);
    }
    return true;
  }

  // One read into buf: the byte count, 0 when nothing is there now, -1 when the peer closed or
  // the connection failed. Drives a server's TLS handshake too (SSL_set_accept_state).
  ssize_t read(std::vector<char>& buf) {
    if (ssl != nullptr) {
      const int r = SSL_read(ssl, buf.data(), static_cast<int>(buf.size()));
      if (r > 0) return r;
      const int e = SSL_get_error(ssl, r);
      ERR_clear_error();
      tls_wants_write = e == SSL_ERROR_WANT_WRITE;
      return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
    }
    const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n > 0) return n;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
    return -1;
  }

  // Hands every whole message of inbox + bytes to on_message and keeps the rest. The common
  // case, reads that end on a message boundary, frames straight from bytes without a copy.
  // false: an oversized message.
  template <class F>
  bool frame(std::string_view bytes, F&& on_message) {
    const bool copied = !inbox.empty();
    if (copied) inbox.append(bytes);
    const std::string_view data = copied ? std::string_view(inbox) : bytes;
    std::size_t used = 0;
    // Bounded: each pass consumes a message or stops.
    for (;;) {
      const std::size_t start = data.find_first_not_of("\r\n", used);  // keep-alive CRLFs
      if (start == std::string_view::npos) {
        used = data.size();
        break;
      }
      used = start;
      const std::size_t end = data.find("\r\n\r\n", start);
      if (end == std::string_view::npos) break;
      const std::size_t size =
          end + 4 - start + content_length(data.substr(start, end + 4 - start));
      if (data.size() - start < size) break;
      on_message(data.substr(start, size));
      used = start + size;
    }
    if (copied) {
      inbox.erase(0, used);
    } else {
      inbox.assign(data.substr(used));
    }
    return inbox.size() <= kMaxInbox;
  }
};

// ---- UAS -----------------------------------------------------------------------------------

// What follows the headers of a 200 to an INVITE with an SDP offer: the UAS's one SDP answer,
// built once (c= the UAS's address; nothing listens on its media port).
std::string sdp_answer_tail(const char* ip) {
  const std::string sdp = std::string("v=0\r\no=uas 1 1 IN IP4 ") + ip + "\r\ns=-\r\nc=IN IP4 " +
                          ip + "\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
  return "Content-Type: application/sdp\r\nContent-Length: " + std::to_string(sdp.size()) +
         "\r\n\r\n" + sdp;
}

// Whether m (a request) carries an SDP body.
bool has_sdp(std::string_view m) {
  if (content_length(m) == 0) return false;
  const std::string_view type = header(m, "Content-Type", "c");
  constexpr std::string_view kSdp = "application/sdp";
  return type.size() >= kSdp.size() && strncasecmp(type.data(), kSdp.data(), kSdp.size()) == 0;
}

// The stateless answer to m, appended to out; false when m gets none (answers, ACK). sdp: the
// headers and body from sdp_answer_tail, for an INVITE with an SDP offer.
bool answer(std::string_view m, std::string_view contact, std::string_view sdp, std::string& out) {
  if (m.starts_with("SIP/2.0 ") || m.starts_with("ACK ")) return false;
  const bool invite = m.starts_with("INVITE ");
  out.append("SIP/2.0 200 OK\r\n");
  copy_lines(m, "Via", "v", out);
  if (invite) copy_lines(m, "Record-Route", "", out);
  out.append("From: ").append(header(m, "From", "f")).append("\r\n");
  const std::string_view to = header(m, "To", "t");
  out.append("To: ").append(to);
  if (to.find(";tag=") == std::string_view::npos) out.append(";tag=uas1");
  out.append("\r\nCall-ID: ").append(header(m, "Call-ID", "i")).append("\r\n");
  out.append("CSeq: ").append(header(m, "CSeq", "")).append("\r\n");
  if (invite) out.append(contact);
  if (invite && has_sdp(m)) {
    out.append(sdp);
  } else {
    out.append("Content-Length: 0\r\n\r\n");
  }
  return true;
}

int run_uas_udp(const char* ip, const char* port) {
  const sockaddr_in local = endpoint(ip, port);
  const int fd = udp_socket(local);
  const std::string contact = std::string("Contact: <sip:uas@") + ip + ":" + port + ">\r\n";
  const std::string sdp = sdp_answer_tail(ip);
  std::vector<char> buf(65536);
  std::string out;
  out.reserve(4096);
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, 1000);
    for (;;) {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      const ssize_t n =
          recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n <= 0) break;
      out.clear();
      if (!answer(std::string_view(buf.data(), static_cast<std::size_t>(n)), contact, sdp, out))
        continue;
      sendto(fd, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }
}

// Reads what a connection has (a bounded number of reads, so that one busy peer cannot starve
// the others) and answers every request on it. false: close it.
bool serve(Stream& c, std::vector<char>& buf, std::string_view contact, std::string_view sdp) {
  for (int k = 0; k < 64; ++k) {
    const ssize_t n = c.read(buf);
    if (n < 0) return false;
    if (n == 0) break;
    if (!c.frame(std::string_view(buf.data(), static_cast<std::size_t>(n)),
                 [&](std::string_view m) { answer(m, contact, sdp, c.outbox); }))
      return false;
  }
  return c.flush() && c.outbox.size() <= kMaxOutbox;
}

int run_uas_stream(const char* ip, const char* port, SSL_CTX* tls) {
  const sockaddr_in local = endpoint(ip, port);
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listener, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0 ||
      listen(listener, 1024) != 0) {
    std::perror("call_load: bind/listen");
    return 2;
  }
  const std::string contact = std::string("Contact: <sip:uas@") + ip + ":" + port +
                              (tls != nullptr ? ";transport=tls" : ";transport=tcp") + ">\r\n";
  const std::string sdp = sdp_answer_tail(ip);
  // Relays open a few connections each; the cap only bounds a misbehaving peer.
  constexpr std::size_t kMaxConnections = 4096;
  std::vector<Stream> conns;
  conns.reserve(kMaxConnections);
  std::vector<pollfd> fds;
  fds.reserve(kMaxConnections + 1);
  std::vector<char> buf(65536);
  bool pending = false;  // a connection holds TLS records that poll cannot see
  for (;;) {
    fds.clear();
    fds.push_back({listener, POLLIN, 0});
    for (const Stream& c : conns) fds.push_back({c.fd, c.events(), 0});
    poll(fds.data(), fds.size(), pending ? 0 : 1000);
    pending = false;
    // Backwards, so that closing one (the last moves into its slot) skips none still to serve.
    for (std::size_t i = conns.size(); i-- > 0;) {
      if (fds[i + 1].revents == 0 && !conns[i].buffered()) continue;
      if (serve(conns[i], buf, contact, sdp)) {
        pending = pending || conns[i].buffered();
        continue;
      }
      conns[i].close();
      if (i + 1 != conns.size()) conns[i] = std::move(conns.back());
      conns.pop_back();
    }
    if ((fds[0].revents & POLLIN) == 0) continue;
    for (int k = 0; k < 64; ++k) {
      const int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
      if (fd < 0) break;
      if (conns.size() == kMaxConnections) {
        ::close(fd);  // rather than leave it queued, which would wake poll for ever
        continue;
      }
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      Stream& c = conns.emplace_back();
      c.fd = fd;
      if (tls != nullptr) {
        c.ssl = SSL_new(tls);
        SSL_set_fd(c.ssl, fd);
        SSL_set_accept_state(c.ssl);
      }
    }
  }
}

// ---- UAC -----------------------------------------------------------------------------------

enum class Scenario { Call, Options, Register };
enum class Phase : std::uint8_t { Idle, Request, Bye, Done, Failed };

struct Call {
  Phase phase = Phase::Idle;
  bool proceeding = false;
  Clock::time_point started{}, next_retransmit{}, deadline{};
  Clock::duration interval{};
  std::string request;  // what we retransmit (INVITE or BYE)
  std::string ack;      // the ACK for the 2xx, resent if the 2xx is
};

enum class Wire { Udp, Tcp, Tls };

struct Uac {
  int fd;
  Wire wire = Wire::Udp;
  Stream trunk;  // TCP and TLS: every call's messages, on one connection
  bool closed = false;
  sockaddr_in target;
  Scenario scenario;
  std::string local;  // ip:port
  std::vector<Call> calls;
  std::vector<std::int64_t> latencies;  // microseconds, request to final answer
  std::uint64_t retransmissions = 0, completed = 0, failed = 0, active = 0;
  std::uint32_t run = static_cast<std::uint32_t>(Clock::now().time_since_epoch().count());

  std::string_view transport_name() const {
    return wire == Wire::Udp ? "UDP" : wire == Wire::Tcp ? "TCP" : "TLS";
  }
  std::string_view transport_param() const {
    return wire == Wire::Udp ? "udp" : wire == Wire::Tcp ? "tcp" : "tls";
  }
  bool reliable() const { return wire != Wire::Udp; }

  // Over a stream, queued for the main loop's flush, which it does before it waits.
  void send(const std::string& m) {
    if (wire == Wire::Udp) {
      sendto(fd, m.data(), m.size(), 0, reinterpret_cast<const sockaddr*>(&target), sizeof target);
      return;
    }
    trunk.outbox.append(m);
  }

  // Reads what is there and hands every whole message to on_response.
  void receive(std::vector<char>& buf, Clock::time_point now) {
    for (int k = 0; k < 256; ++k) {
      if (wire == Wire::Udp) {
        const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
        if (n <= 0) break;
        const std::string_view m(buf.data(), static_cast<std::size_t>(n));
        if (m.starts_with("SIP/2.0 ")) on_response(m, now);
        continue;
      }
      const ssize_t n = trunk.read(buf);
      if (n == 0) break;
      if (n < 0 || !trunk.frame(std::string_view(buf.data(), static_cast<std::size_t>(n)),
                                [&](std::string_view m) {
                                  if (m.starts_with("SIP/2.0 ")) on_response(m, now);
                                })) {
        closed = true;
        break;
      }
    }
  }

  std::string call_id(std::size_t i) const {
    std::string id = "c";
    id += std::to_string(i);
    id += '-';
    id += std::to_string(run);
    id += "@load";
    return id;
  }

  std::string request_text(std::size_t i, std::string_view method, std::string_view uri,
                           std::string_view extra, std::uint32_t cseq,
                           std::string_view to_tag = {}) const {
    std::string m;
    m.reserve(600);
    m.append(method).append(" ").append(uri).append(" SIP/2.0\r\nVia: SIP/2.0/");
    m.append(transport_name()).append(" ").append(local);
    m.append(";branch=z9hG4bK").append(std::to_string(i)).append("x").append(std::to_string(run));
    m.append(method == "ACK" ? "a" : method == "BYE" ? "b" : "i").append(";rport\r\n");
    m.append("Max-Forwards: 70\r\nFrom: <sip:load@example.com>;tag=f").append(std::to_string(i));
    m.append("\r\nTo: <sip:uas@example.com>");
    if (!to_tag.empty()) m.append(";tag=").append(to_tag);
    m.append("\r\nCall-ID: ").append(call_id(i)).append("\r\nCSeq: ").append(std::to_string(cseq));
    m.append(" ").append(method).append("\r\n").append(extra);
    return m;
  }

  void start(std::size_t i, Clock::time_point now) {
    Call& c = calls[i];
    std::string_view method = "INVITE";
    if (scenario == Scenario::Options) method = "OPTIONS";
    if (scenario == Scenario::Register) method = "REGISTER";
    std::string extra;
    if (scenario == Scenario::Call) {
      static const std::string sdp =
          "v=0\r\no=load 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
          "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
      extra = "Contact: <sip:load@" + local + ";transport=" + std::string(transport_param()) +
              ">\r\nContent-Type: application/sdp\r\n" +
              "Content-Length: " + std::to_string(sdp.size()) + "\r\n\r\n" + sdp;
    } else {
      extra = "Contact: <sip:load@" + local + ";transport=" + std::string(transport_param()) +
              ">\r\nContent-Length: 0\r\n\r\n";
    }
    c.request = request_text(
        i, method, scenario == Scenario::Register ? "sip:example.com" : "sip:uas@example.com",
        extra, 1);
    c.phase = Phase::Request;
    c.started = now;
    arm(c, now);
    ++active;
    send(c.request);
  }

  void arm(Call& c, Clock::time_point now) {
    c.interval = kT1;
    c.next_retransmit = now + kT1;
    c.deadline = now + 64 * kT1;
  }

  void finish(Call& c, bool ok, Clock::time_point now) {
    if (c.phase == Phase::Done || c.phase == Phase::Failed) return;
    c.phase = ok ? Phase::Done : Phase::Failed;
    --active;
    if (ok) {
      ++completed;
      latencies.push_back(
          std::chrono::duration_cast<std::chrono::microseconds>(now - c.started).count());
    } else {
      ++failed;
    }
    std::string().swap(c.request);
  }

  void on_response(std::string_view m, Clock::time_point now) {
    const std::string_view id = header(m, "Call-ID", "i");
    if (id.size() < 2 || id[0] != 'c' || m.size() < 12) return;
    std::size_t index = calls.size();
    std::from_chars(id.data() + 1, id.data() + id.size(), index);
    if (index >= calls.size()) return;
    Call& c = calls[index];
    int status = 0;
    std::from_chars(m.data() + 8, m.data() + 11, status);
    const std::string_view cseq = header(m, "CSeq", "");
    const bool for_bye = cseq.find("BYE") != std::string_view::npos;
    if (status < 200) {
      c.proceeding = true;
      return;
    }
    if (scenario != Scenario::Call) {
      finish(c, status < 300, now);
      return;
    }
    if (for_bye) {
      if (c.phase == Phase::Bye) finish(c, status < 300, now);
      return;
    }
    // The INVITE's final answer.
    if (c.phase == Phase::Bye || c.phase == Phase::Done) {
      if (!c.ack.empty() && status < 300) send(c.ack);  // a 2xx retransmission: ACK again
      return;
    }
    if (c.phase != Phase::Request) return;
    if (status >= 300) {
      finish(c, false, now);
      return;
    }
    // Route set: Record-Route reversed; remote target: Contact.
    std::vector<std::string_view> routes;
    std::size_t from = 0;
    for (;;) {
      const std::size_t at = m.find("\r\nRecord-Route:", from);
      if (at == std::string_view::npos || at > m.find("\r\n\r\n")) break;
      const std::size_t eol = m.find("\r\n", at + 2);
      std::string_view v = m.substr(at + 15, eol - at - 15);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      // Entries are name-addrs: "<uri>;params, <uri>" (no commas inside <>).
      std::size_t k = 0;
      while ((k = v.find('<', k)) != std::string_view::npos) {
        const std::size_t close = v.find('>', k);
        if (close == std::string_view::npos) break;
        const std::size_t comma = v.find(',', close);
        std::string_view entry =
            v.substr(k, (comma == std::string_view::npos ? v.size() : comma) - k);
        while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
        routes.push_back(entry);
        if (comma == std::string_view::npos) break;
        k = comma;
      }
      from = eol;
    }
    std::string route_lines;
    for (auto it = routes.rbegin(); it != routes.rend(); ++it)
      route_lines.append("Route: ").append(*it).append("\r\n");
    std::string_view contact = header(m, "Contact", "m");
    const std::size_t lt = contact.find('<');
    std::string target_uri(lt == std::string_view::npos
                               ? contact
                               : contact.substr(lt + 1, contact.find('>') - lt - 1));
    const std::string_view to = header(m, "To", "t");
    const std::size_t tag = to.find(";tag=");
    const std::string to_tag(tag == std::string_view::npos ? std::string_view{}
                                                           : to.substr(tag + 5));
    const std::size_t i = index;
    c.ack =
        request_text(i, "ACK", target_uri, route_lines + "Content-Length: 0\r\n\r\n", 1, to_tag);
    send(c.ack);
    c.request =
        request_text(i, "BYE", target_uri, route_lines + "Content-Length: 0\r\n\r\n", 2, to_tag);
    c.phase = Phase::Bye;
    c.proceeding = false;
    arm(c, now);
    send(c.request);
  }

  void timers(Clock::time_point now) {
    for (Call& c : calls) {
      if (c.phase != Phase::Request && c.phase != Phase::Bye) continue;
      if (now >= c.deadline) {
        finish(c, false, now);
        continue;
      }
      const bool invite = scenario == Scenario::Call && c.phase == Phase::Request;
      if (!reliable() && now >= c.next_retransmit && !(invite && c.proceeding)) {
        send(c.request);
        ++retransmissions;
        c.interval = invite ? 2 * c.interval : std::min<Clock::duration>(2 * c.interval, kT2);
        c.next_retransmit = now + c.interval;
      }
    }
  }
};

int run_uac(char** argv) {
  Uac uac;
  uac.target = endpoint(argv[2], argv[3]);
  const std::string scenario = argv[4];
  uac.scenario = scenario == "options"    ? Scenario::Options
                 : scenario == "register" ? Scenario::Register
                                          : Scenario::Call;
  const double rate = std::atof(argv[5]);
  const std::size_t total = std::strtoull(argv[6], nullptr, 10);
  const std::size_t max_concurrent = std::strtoull(argv[7], nullptr, 10);
  const double seconds = std::atof(argv[8]);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr = uac.target.sin_addr;
  const std::string_view wire = argv[9] != nullptr ? argv[9] : "udp";
  if (wire == "udp") {
    uac.fd = udp_socket(local);
  } else {
    uac.wire = wire == "tls" ? Wire::Tls : Wire::Tcp;
    uac.fd = uac.trunk.fd = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(uac.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(uac.fd, reinterpret_cast<const sockaddr*>(&uac.target), sizeof uac.target) != 0) {
      std::perror("call_load: connect");
      return 2;
    }
    if (uac.wire == Wire::Tls) {
      uac.trunk.ssl = SSL_new(tls_context(nullptr, nullptr));
      SSL_set_fd(uac.trunk.ssl, uac.fd);
      // Blocking, before the socket turns non-blocking: nothing to overlap it with.
      if (SSL_connect(uac.trunk.ssl) != 1) {
        std::fprintf(stderr, "call_load: TLS handshake failed\n");
        return 2;
      }
    }
    fcntl(uac.fd, F_SETFL, fcntl(uac.fd, F_GETFL) | O_NONBLOCK);
  }
  socklen_t len = sizeof local;
  getsockname(uac.fd, reinterpret_cast<sockaddr*>(&local), &len);
  uac.local = std::string(argv[2]) + ":" + std::to_string(ntohs(local.sin_port));
  uac.calls.resize(total);
  uac.latencies.reserve(total);

  const auto begin = Clock::now();
  const auto stop_starting =
      begin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  const auto hard_stop = stop_starting + std::chrono::seconds(8);
  std::size_t started = 0;
  std::vector<char> buf(65536);
  auto last_timer_scan = begin;
  for (;;) {
    const auto now = Clock::now();
    if (now < stop_starting) {
      const auto due =
          static_cast<std::size_t>(std::chrono::duration<double>(now - begin).count() * rate);
      while (started < std::min(due, total) && uac.active < max_concurrent)
        uac.start(started++, now);
    }
    const bool starting_done = started == total || now >= stop_starting;
    if (starting_done && uac.active == 0) break;
    if (now >= hard_stop) break;
    if (uac.reliable() && !uac.trunk.flush()) uac.closed = true;
    if (uac.closed) {
      std::fprintf(stderr, "call_load: the connection closed or failed\n");
      break;
    }
    if (!uac.trunk.buffered()) {
      pollfd p{uac.fd, uac.reliable() ? uac.trunk.events() : static_cast<short>(POLLIN), 0};
      poll(&p, 1, 1);
    }
    uac.receive(buf, Clock::now());
    if (now - last_timer_scan >= std::chrono::milliseconds(20)) {
      uac.timers(now);
      last_timer_scan = now;
    }
  }
  const auto end = Clock::now();
  for (std::size_t i = 0; i < started; ++i)
    if (uac.calls[i].phase == Phase::Request || uac.calls[i].phase == Phase::Bye)
      uac.finish(uac.calls[i], false, end);
  std::sort(uac.latencies.begin(), uac.latencies.end());
  auto pct = [&](double q) -> std::int64_t {
    if (uac.latencies.empty()) return 0;
    return uac.latencies[std::min(
        uac.latencies.size() - 1,
        static_cast<std::size_t>(q * static_cast<double>(uac.latencies.size())))];
  };
  const double elapsed = std::chrono::duration<double>(end - begin).count();
  std::printf(
      "scenario=%s started=%zu completed=%llu failed=%llu retransmissions=%llu "
      "seconds=%.3f rate=%.1f p50_us=%lld p90_us=%lld p99_us=%lld max_us=%lld\n",
      scenario.c_str(), started, static_cast<unsigned long long>(uac.completed),
      static_cast<unsigned long long>(uac.failed),
      static_cast<unsigned long long>(uac.retransmissions), elapsed,
      static_cast<double>(uac.completed) / elapsed, static_cast<long long>(pct(0.5)),
      static_cast<long long>(pct(0.9)), static_cast<long long>(pct(0.99)),
      static_cast<long long>(uac.latencies.empty() ? 0 : uac.latencies.back()));
  return uac.failed == 0 && uac.completed == started ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that closes under a write must fail that write, not kill the load generator.
  signal(SIGPIPE, SIG_IGN);
  const std::string_view mode = argc > 1 ? argv[1] : "";
  const std::string_view wire = argc > 4 ? argv[4] : "udp";
  if (mode == "uas" && argc == 4) return run_uas_udp(argv[2], argv[3]);
  if (mode == "uas" && argc == 5 && wire == "udp") return run_uas_udp(argv[2], argv[3]);
  if (mode == "uas" && argc == 5 && wire == "tcp") return run_uas_stream(argv[2], argv[3], nullptr);
  if (mode == "uas" && argc == 7 && wire == "tls")
    return run_uas_stream(argv[2], argv[3], tls_context(argv[5], argv[6]));
  if ((argc == 9 || argc == 10) && mode == "uac") return run_uac(argv);
  std::fprintf(stderr,
               "usage: call_load uas LISTEN_IP LISTEN_PORT [udp|tcp|tls CERT KEY]\n"
               "       call_load uac TARGET_IP TARGET_PORT call|options|register RATE TOTAL "
               "MAX_CONCURRENT SECONDS [udp|tcp|tls]\n");
  return 2;
}
