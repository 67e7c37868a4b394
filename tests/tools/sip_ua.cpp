// A minimal SIP user agent for the relay's integration tests, on plain POSIX sockets so that it
// shares no code with the SBC under test. It talks to one SBC address over UDP or TCP and runs a
// list of actions in order:
//
//   sip_ua udp|tcp SBC_IP SBC_PORT USER ACTION...
//     register            REGISTER sip:example.com for USER; prints "REGISTER <status>"
//     unregister          REGISTER with "Contact: *" and "Expires: 0": removes every binding of
//                         USER; prints "UNREGISTER <status>"
//     serve SECONDS       answers what arrives for SECONDS: INVITE with 180 then 200 (an in-dialog
//                         re-INVITE with 200 only), BYE, MESSAGE, OPTIONS and CANCEL with 200 (487
//                         for the INVITE); prints "<METHOD> received"
//     call URI            INVITE URI; on 2xx sends ACK, then BYE; prints "INVITE <status>",
//                         "BYE <status>"
//     ring URI            INVITE URI that the callee rings for (use a user that `serve`s with
//                         "-ringonly"); on 180 sends CANCEL; prints "CANCEL <status>" and the
//                         INVITE's final status
//     request METHOD URI  one out-of-dialog request; prints "METHOD <status>"
//     ringonly            makes later `serve` actions ring without answering
//     busy                makes later `serve` actions answer INVITEs 100, 180, then 486 Busy Here
//     reinvite            later calls put the call on hold and resume it after the ACK: a
//                         re-INVITE (CSeq + 1, the dialog's route set, to the remote Contact)
//                         whose offer is the INVITE's with a=sendonly, its 200 ACKed, then one
//                         with a=sendrecv, ACKed; then the hold time and BYE. Prints "REINVITE
//                         <status>" for each
//     lateoffer           later calls send their INVITE without a body (a late offer): the SDP
//                         answer to the offer in the 2xx goes in the ACK
//     hold MS             later calls hold MS milliseconds between ACK and BYE (default 300)
//     calls URI COUNT     up to COUNT calls to URI one after another, as `call`; stops after the
//                         first call refused (final status >= 300) or lost. Prints "BYE sent at
//                         EPOCH_MS" before each BYE, "RETRY-AFTER <value>" for a refusal that
//                         carries one, and over TCP after a refusal "CONNECTION closed" when the
//                         SBC closes the connection within 3 s ("CONNECTION open" otherwise)
// With SIP_UA_DUMP=FILE every message received is appended to FILE (for checks on headers).
// With SIP_UA_PASSWORD (and SIP_UA_AUTH_USER, default USER) it answers 401/407 challenges with
// Digest (RFC 7616: the first challenge whose algorithm it knows, SHA-256 or MD5, qop=auth);
// SIP_UA_LOCAL_ADDRESS binds another loopback address than 127.0.0.1 (and names it in the c= and
// o= lines of the INVITE's SDP offer, m=audio 40000). With SIP_UA_ANSWER_SDP=1 the 200 to an
// INVITE that carries an SDP offer carries an SDP answer (c= the local address, m=audio 40000;
// a=recvonly to an a=sendonly offer, a=sendonly to a=recvonly, a=inactive to a=inactive), and the
// 200 to an INVITE without a body carries an SDP offer (the same lines): the answer comes in the
// ACK, which SIP_UA_DUMP records like every message received; without SIP_UA_ANSWER_SDP the 200
// has no body. SIP_UA_SDP_ADDRESS=IP names IP instead of the local address in the c= and o= lines
// of every SDP it sends, offer or answer (a phone behind NAT: its SDP names a private address,
// its SIP comes from SIP_UA_LOCAL_ADDRESS, where its socket stays bound). Its digest code is its
// own (BoringSSL's hashes), not the SBC's.
// Exit status: 0 when every action got a final answer, 1 otherwise.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/md5.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Msg {
  std::string raw;
  std::string first_line;
  std::vector<std::pair<std::string, std::string>> headers;  // long lower-case name, value
  bool request() const { return first_line.rfind("SIP/2.0 ", 0) != 0; }
  int status() const { return request() ? 0 : std::atoi(first_line.c_str() + 8); }
  std::string method() const {
    if (request()) return first_line.substr(0, first_line.find(' '));
    const std::string cseq = get("cseq");
    return cseq.substr(cseq.find(' ') + 1);
  }
  std::string get(const std::string& name) const {
    for (const auto& [n, v] : headers)
      if (n == name) return v;
    return {};
  }
  std::vector<std::string> all(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& [n, v] : headers)
      if (n == name) out.push_back(v);
    return out;
  }
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string long_name(const std::string& name) {
  const std::string n = lower(name);
  if (n == "v") return "via";
  if (n == "f") return "from";
  if (n == "t") return "to";
  if (n == "i") return "call-id";
  if (n == "m") return "contact";
  if (n == "l") return "content-length";
  return n;
}

std::optional<Msg> parse(const std::string& raw) {
  Msg m;
  m.raw = raw;
  std::size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return std::nullopt;
  std::size_t pos = raw.find("\r\n");
  m.first_line = raw.substr(0, pos);
  pos += 2;
  while (pos < end) {
    std::size_t eol = raw.find("\r\n", pos);
    const std::string line = raw.substr(pos, eol - pos);
    pos = eol + 2;
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    m.headers.emplace_back(long_name(name), value);
  }
  return m;
}

// Splits a header value at commas outside <> and quotes.
std::vector<std::string> split_list(const std::string& value) {
  std::vector<std::string> out;
  std::string cur;
  bool angle = false, quote = false;
  for (char c : value) {
    if (c == '"') quote = !quote;
    if (!quote && c == '<') angle = true;
    if (!quote && c == '>') angle = false;
    if (c == ',' && !angle && !quote) {
      out.push_back(cur);
      cur.clear();
      continue;
    }
    if (!(cur.empty() && c == ' ')) cur += c;
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::string uri_of(const std::string& name_addr) {
  const std::size_t lt = name_addr.find('<');
  if (lt == std::string::npos) return name_addr.substr(0, name_addr.find(';'));
  return name_addr.substr(lt + 1, name_addr.find('>') - lt - 1);
}

std::string hex(const unsigned char* bytes, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 15];
  }
  return out;
}

std::string hash(bool sha256, const std::string& text) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  if (sha256) {
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), out);
    return hex(out, SHA256_DIGEST_LENGTH);
  }
  MD5(reinterpret_cast<const unsigned char*>(text.data()), text.size(), out);
  return hex(out, MD5_DIGEST_LENGTH);
}

// A parameter of a challenge, unquoted.
std::string challenge_param(const std::string& challenge, const std::string& name) {
  for (const std::string& item : split_list(challenge.substr(challenge.find(' ') + 1))) {
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || lower(item.substr(0, eq)) != name) continue;
    std::string v = item.substr(eq + 1);
    if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
    return v;
  }
  return {};
}

// The body of a message: what follows the empty line.
std::string body_of(const Msg& m) {
  const std::size_t end = m.raw.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : m.raw.substr(end + 4);
}

bool has_sdp(const Msg& m) {
  return body_of(m).find("m=") != std::string::npos;
}

// The direction attribute an SDP answer gives to an offer in `body` (RFC 3264 6.1): empty for
// sendrecv (the default, not written).
std::string answer_direction(const std::string& body) {
  if (body.find("a=sendonly") != std::string::npos) return "recvonly";
  if (body.find("a=recvonly") != std::string::npos) return "sendonly";
  if (body.find("a=inactive") != std::string::npos) return "inactive";
  return {};
}

class Ua {
 public:
  Ua(bool tcp, std::string sbc_ip, int sbc_port, std::string user)
      : tcp_(tcp), user_(std::move(user)) {
    fd_ = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    sbc_.sin_family = AF_INET;
    sbc_.sin_port = htons(static_cast<uint16_t>(sbc_port));
    inet_pton(AF_INET, sbc_ip.c_str(), &sbc_.sin_addr);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    inet_pton(AF_INET, local_ip_.c_str(), &local.sin_addr);
    bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local);
    if (tcp && connect(fd_, reinterpret_cast<sockaddr*>(&sbc_), sizeof sbc_) != 0) {
      std::perror("connect");
      std::exit(1);
    }
    socklen_t len = sizeof local;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len);
    port_ = ntohs(local.sin_port);
  }

  std::string transport() const { return tcp_ ? "TCP" : "UDP"; }
  std::string contact() const {
    return "<sip:" + user_ + "@" + local_ip_ + ":" + std::to_string(port_) +
           ";transport=" + lower(transport()) + ">";
  }
  std::string via() {
    return "SIP/2.0/" + transport() + " " + local_ip_ + ":" + std::to_string(port_) +
           ";branch=z9hG4bK" + token() + ";rport";
  }
  std::string token() { return std::to_string(random_()); }

  void send(const std::string& bytes) {
    if (tcp_) {
      std::size_t off = 0;
      while (off < bytes.size()) {
        const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return;
        off += static_cast<std::size_t>(n);
      }
    } else {
      sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&sbc_), sizeof sbc_);
    }
  }

  // The next message, or nothing when `deadline` passes.
  std::optional<Msg> receive(Clock::time_point deadline) {
    auto m = receive_one(deadline);
    if (m && std::getenv("SIP_UA_DUMP") != nullptr) {
      std::ofstream dump(std::getenv("SIP_UA_DUMP"), std::ios::app);
      dump << m->raw << "----\n";
    }
    return m;
  }

  std::optional<Msg> receive_one(Clock::time_point deadline) {
    for (;;) {
      if (auto m = take_buffered()) return m;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[65536];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        if (tcp_) return std::nullopt;
        continue;
      }
      if (tcp_) {
        stream_.append(buf, static_cast<std::size_t>(n));
      } else {
        return parse(std::string(buf, static_cast<std::size_t>(n)));
      }
    }
  }

  // Waits for a final response to (call_id, method), answering requests that arrive meanwhile.
  std::optional<Msg> wait_final(const std::string& call_id, const std::string& method, int seconds,
                                bool print_provisional = false,
                                const std::string& on_ringing_cancel = {}) {
    const auto deadline = Clock::now() + std::chrono::seconds(seconds);
    while (auto m = receive(deadline)) {
      if (m->request()) {
        answer(*m);
        continue;
      }
      if (m->get("call-id") != call_id || m->method() != method) continue;
      if (m->status() < 200) {
        if (print_provisional && m->status() > 100)
          std::cout << method << " " << m->status() << std::endl;
        if (m->status() == 180 && !on_ringing_cancel.empty()) {
          send(on_ringing_cancel);
          std::cout << "CANCEL sent" << std::endl;
        }
        continue;
      }
      return m;
    }
    return std::nullopt;
  }

  // The Authorization / Proxy-Authorization line answering challenge response `r`, or empty.
  std::string credentials(const Msg& r, const std::string& method, const std::string& uri) {
    const char* password = std::getenv("SIP_UA_PASSWORD");
    if (password == nullptr || (r.status() != 401 && r.status() != 407)) return {};
    const bool proxy = r.status() == 407;
    const char* auth_user = std::getenv("SIP_UA_AUTH_USER");
    const std::string user = auth_user != nullptr ? auth_user : user_;
    for (const std::string& c : r.all(proxy ? "proxy-authenticate" : "www-authenticate")) {
      if (lower(c.substr(0, 7)) != "digest ") continue;
      const std::string algorithm = challenge_param(c, "algorithm");
      const bool sha256 = lower(algorithm) == "sha-256";
      if (!sha256 && !algorithm.empty() && lower(algorithm) != "md5") continue;
      const std::string realm = challenge_param(c, "realm");
      const std::string nonce = challenge_param(c, "nonce");
      const std::string cnonce = token();
      const std::string ha1 = hash(sha256, user + ":" + realm + ":" + password);
      const std::string ha2 = hash(sha256, method + ":" + uri);
      const std::string response =
          hash(sha256, ha1 + ":" + nonce + ":00000001:" + cnonce + ":auth:" + ha2);
      std::cout << "AUTH " << (sha256 ? "SHA-256" : "MD5") << " " << method << std::endl;
      return std::string(proxy ? "Proxy-Authorization" : "Authorization") + ": Digest username=\"" +
             user + "\", realm=\"" + realm + "\", nonce=\"" + nonce + "\", uri=\"" + uri +
             "\", response=\"" + response + "\", algorithm=" + (sha256 ? "SHA-256" : "MD5") +
             ", cnonce=\"" + cnonce + "\", qop=auth, nc=00000001\r\n";
    }
    return {};
  }

  bool do_register(bool remove = false) {
    const std::string call_id = token() + "@ua", from_tag = token();
    auto text = [&](int cseq, const std::string& auth) {
      return "REGISTER sip:example.com SIP/2.0\r\nVia: " + via() +
             "\r\nMax-Forwards: 70\r\nFrom: <sip:" + user_ + "@example.com>;tag=" + from_tag +
             "\r\nTo: <sip:" + user_ + "@example.com>\r\nCall-ID: " + call_id +
             "\r\nCSeq: " + std::to_string(cseq) +
             " REGISTER\r\nContact: " + (remove ? std::string("*") : contact()) +
             "\r\nExpires: " + (remove ? "0" : "300") + "\r\nUser-Agent: sip_ua\r\n" + auth +
             "Content-Length: 0\r\n\r\n";
    };
    send(text(1, {}));
    auto r = wait_final(call_id, "REGISTER", 5);
    // A challenge, or a stale nonce: answer it (twice at most).
    for (int cseq = 2; r && cseq <= 3; ++cseq) {
      const std::string auth = credentials(*r, "REGISTER", "sip:example.com");
      if (auth.empty()) break;
      send(text(cseq, auth));
      r = wait_final(call_id, "REGISTER", 5);
    }
    std::cout << (remove ? "UNREGISTER " : "REGISTER ")
              << (r ? std::to_string(r->status()) : "timeout") << std::endl;
    return r && r->status() == 200;
  }

  bool request(const std::string& method, const std::string& uri) {
    const std::string call_id = token() + "@ua", from_tag = token();
    auto text = [&](int cseq, const std::string& auth) {
      return method + " " + uri + " SIP/2.0\r\nVia: " + via() +
             "\r\nMax-Forwards: 70\r\nFrom: <sip:" + user_ + "@example.com>;tag=" + from_tag +
             "\r\nTo: <" + uri + ">\r\nCall-ID: " + call_id + "\r\nCSeq: " + std::to_string(cseq) +
             " " + method + "\r\n" + auth + "Content-Length: 0\r\n\r\n";
    };
    send(text(1, {}));
    auto r = wait_final(call_id, method, 40);
    for (int cseq = 2; r && cseq <= 3; ++cseq) {
      const std::string auth = credentials(*r, method, uri);
      if (auth.empty()) break;
      send(text(cseq, auth));
      r = wait_final(call_id, method, 40);
    }
    std::cout << method << " " << (r ? std::to_string(r->status()) : "timeout") << std::endl;
    return r.has_value();
  }

  std::string invite_text(const std::string& uri, const std::string& call_id,
                          const std::string& from_tag, const std::string& branch_via, int cseq = 1,
                          const std::string& auth = {}) {
    return "INVITE " + uri + " SIP/2.0\r\nVia: " + branch_via +
           "\r\nMax-Forwards: 70\r\nFrom: <sip:" + user_ + "@example.com>;tag=" + from_tag +
           "\r\nTo: <" + uri + ">\r\nCall-ID: " + call_id + "\r\nCSeq: " + std::to_string(cseq) +
           " INVITE\r\nContact: " + contact() + "\r\n" + auth +
           sdp_part(late_offer ? std::string() : local_sdp());
  }

  // The SDP of an offer (and with SIP_UA_ANSWER_SDP of an answer): the local address (or
  // SIP_UA_SDP_ADDRESS), port 40000; `version` of the o= line (RFC 3264 8: one more for each
  // change), `direction` an attribute.
  std::string local_sdp(int version = 1, const std::string& direction = {}) const {
    return "v=0\r\no=- 1 " + std::to_string(version) + " IN IP4 " + sdp_ip_ +
           "\r\ns=-\r\nc=IN IP4 " + sdp_ip_ + "\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n" +
           (direction.empty() ? std::string() : "a=" + direction + "\r\n");
  }

  // The end of a message's header: Content-Type (with a body), Content-Length, the body.
  static std::string sdp_part(const std::string& sdp) {
    if (sdp.empty()) return "Content-Length: 0\r\n\r\n";
    return "Content-Type: application/sdp\r\nContent-Length: " + std::to_string(sdp.size()) +
           "\r\n\r\n" + sdp;
  }

  bool call(const std::string& uri) {
    const std::string call_id = token() + "@ua", from_tag = token();
    std::string branch_via = via();
    send(invite_text(uri, call_id, from_tag, branch_via));
    auto r = wait_final(call_id, "INVITE", 30, true);
    int invite_cseq = 1;
    while (r && invite_cseq < 3) {
      const std::string auth = credentials(*r, "INVITE", uri);
      if (auth.empty()) break;
      // The challenge is a final answer: ACK it (same branch), then ask again.
      send("ACK " + uri + " SIP/2.0\r\nVia: " + branch_via +
           "\r\nMax-Forwards: 70\r\nFrom: <sip:" + user_ + "@example.com>;tag=" + from_tag +
           "\r\nTo: " + r->get("to") + "\r\nCall-ID: " + call_id +
           "\r\nCSeq: " + std::to_string(invite_cseq) + " ACK\r\nContent-Length: 0\r\n\r\n");
      branch_via = via();
      send(invite_text(uri, call_id, from_tag, branch_via, ++invite_cseq, auth));
      r = wait_final(call_id, "INVITE", 30, true);
    }
    std::cout << "INVITE " << (r ? std::to_string(r->status()) : "timeout") << std::endl;
    last_invite_status = r ? r->status() : 0;
    if (!r) return false;
    if (r->status() >= 300) {
      if (!r->get("retry-after").empty())
        std::cout << "RETRY-AFTER " << r->get("retry-after") << std::endl;
      return true;
    }
    // The dialog: route set = Record-Route reversed, remote target = Contact.
    std::vector<std::string> routes;
    for (const std::string& v : r->all("record-route"))
      for (const std::string& e : split_list(v)) routes.push_back(e);
    std::string route_lines;
    for (auto it = routes.rbegin(); it != routes.rend(); ++it)
      route_lines += "Route: " + *it + "\r\n";
    const std::string target = uri_of(r->get("contact"));
    const std::string to = r->get("to");
    auto in_dialog = [&](const std::string& method, int cseq, const std::string& sdp = {}) {
      return method + " " + target + " SIP/2.0\r\nVia: " + via() + "\r\nMax-Forwards: 70\r\n" +
             route_lines + "From: <sip:" + user_ + "@example.com>;tag=" + from_tag +
             "\r\nTo: " + to + "\r\nCall-ID: " + call_id + "\r\nCSeq: " + std::to_string(cseq) +
             " " + method + "\r\n" + (method != "INVITE" ? "" : "Contact: " + contact() + "\r\n") +
             sdp_part(sdp);
    };
    // A late offer: the 2xx carries the offer, the ACK the answer.
    const bool answer_in_ack = late_offer && has_sdp(*r);
    send(in_dialog("ACK", invite_cseq,
                   answer_in_ack ? local_sdp(1, answer_direction(body_of(*r))) : std::string()));
    if (reinvite) {
      // Hold, then resume: the same offer, its version one more each time.
      int version = 1;
      for (const char* direction : {"sendonly", "sendrecv"}) {
        const int cseq = ++invite_cseq;
        send(in_dialog("INVITE", cseq, local_sdp(++version, direction)));
        std::optional<Msg> re;
        do {  // a retransmitted 2xx of an earlier INVITE is not this one's answer
          re = wait_final(call_id, "INVITE", 10);
        } while (re && std::atoi(re->get("cseq").c_str()) != cseq);
        std::cout << "REINVITE " << (re ? std::to_string(re->status()) : "timeout") << std::endl;
        if (re) send(in_dialog("ACK", cseq));
      }
    }
    // Hold the call a moment, then hang up.
    const auto hold = Clock::now() + std::chrono::milliseconds(hold_ms);
    while (auto m = receive(hold))
      if (m->request()) answer(*m);
    if (print_bye_time)
      std::cout << "BYE sent at "
                << std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count()
                << std::endl;
    send(in_dialog("BYE", invite_cseq + 1));
    auto bye = wait_final(call_id, "BYE", 10);
    std::cout << "BYE " << (bye ? std::to_string(bye->status()) : "timeout") << std::endl;
    return bye.has_value();
  }

  bool ring_and_cancel(const std::string& uri) {
    const std::string call_id = token() + "@ua", from_tag = token();
    const std::string branch_via = via();
    const std::string invite = invite_text(uri, call_id, from_tag, branch_via);
    send(invite);
    const std::string cancel = "CANCEL " + uri + " SIP/2.0\r\nVia: " + branch_via +
                               "\r\nMax-Forwards: 70\r\nFrom: <sip:" + user_ +
                               "@example.com>;tag=" + from_tag + "\r\nTo: <" + uri +
                               ">\r\nCall-ID: " + call_id +
                               "\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n";
    // The CANCEL's 200 and the INVITE's 487 may come in either order.
    bool cancel_answered = false;
    std::optional<Msg> final;
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    bool cancelled = false;
    while (auto m = receive(deadline)) {
      if (m->request()) {
        answer(*m);
        continue;
      }
      if (m->get("call-id") != call_id) continue;
      if (m->method() == "INVITE" && m->status() == 180 && !cancelled) {
        std::cout << "INVITE 180" << std::endl;
        send(cancel);
        cancelled = true;
      } else if (m->method() == "CANCEL" && m->status() >= 200) {
        std::cout << "CANCEL " << m->status() << std::endl;
        cancel_answered = true;
      } else if (m->method() == "INVITE" && m->status() >= 200) {
        final = m;
        std::cout << "INVITE " << m->status() << std::endl;
        const std::string ack = "ACK " + uri + " SIP/2.0\r\nVia: " + branch_via +
                                "\r\nMax-Forwards: 70\r\nFrom: <sip:" + user_ +
                                "@example.com>;tag=" + from_tag + "\r\nTo: " + m->get("to") +
                                "\r\nCall-ID: " + call_id +
                                "\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n";
        send(ack);
      }
      if (cancel_answered && final) return true;
    }
    return false;
  }

  // Calls one after another until one is refused or lost, `count` at most.
  bool calls(const std::string& uri, int count) {
    print_bye_time = true;
    for (int i = 0; i < count; ++i) {
      if (!call(uri)) return false;
      if (last_invite_status >= 300) {
        if (tcp_) std::cout << "CONNECTION " << (closed_within(3) ? "closed" : "open") << std::endl;
        return true;
      }
    }
    return true;
  }

  // Over TCP: whether the peer closes the connection within `seconds` (what arrives meanwhile is
  // read and dropped).
  bool closed_within(int seconds) {
    const auto deadline = Clock::now() + std::chrono::seconds(seconds);
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[4096];
      if (recv(fd_, buf, sizeof buf, 0) <= 0) return true;
    }
  }

  void serve(int seconds) {
    const auto deadline = Clock::now() + std::chrono::seconds(seconds);
    while (auto m = receive(deadline))
      if (m->request()) answer(*m);
  }

  bool ring_only = false;
  bool busy = false;
  bool reinvite = false;
  bool late_offer = false;
  int hold_ms = 300;
  bool print_bye_time = false;
  int last_invite_status = 0;  // of the last call: 0 when it got no final answer

 private:
  std::string response(const Msg& req, int status, const std::string& reason,
                       const std::string& extra = {}, const std::string& sdp = {}) {
    std::string r = "SIP/2.0 " + std::to_string(status) + " " + reason + "\r\n";
    for (const std::string& v : req.all("via")) r += "Via: " + v + "\r\n";
    if (req.method() == "INVITE")
      for (const std::string& v : req.all("record-route")) r += "Record-Route: " + v + "\r\n";
    r += "From: " + req.get("from") + "\r\n";
    std::string to = req.get("to");
    if (to.find(";tag=") == std::string::npos && status > 100) to += ";tag=" + local_tag_;
    r += "To: " + to + "\r\nCall-ID: " + req.get("call-id") + "\r\nCSeq: " + req.get("cseq") +
         "\r\n" + extra;
    if (sdp.empty()) return r + "Content-Length: 0\r\n\r\n";
    return r + "Content-Type: application/sdp\r\nContent-Length: " + std::to_string(sdp.size()) +
           "\r\n\r\n" + sdp;
  }

  void answer(const Msg& req) {
    const std::string method = req.method();
    std::cout << method << " received" << std::endl;
    if (method == "ACK") return;
    if (method == "INVITE") {
      pending_invite_ = req;
      const std::string contact_line = "Contact: " + contact() + "\r\n";
      // A re-INVITE (in a dialog: the To has our tag) is answered at once.
      const bool reinvite_received = req.get("to").find(";tag=") != std::string::npos;
      if (busy) {
        send(response(req, 100, "Trying"));
        send(response(req, 180, "Ringing", contact_line));
        send(response(req, 486, "Busy Here"));
        return;
      }
      if (!reinvite_received) send(response(req, 180, "Ringing", contact_line));
      if (ring_only) return;
      // Only when asked for: an answer to an offer, an offer to an INVITE without one (a late
      // offer, answered in the ACK).
      const char* answer_sdp = std::getenv("SIP_UA_ANSWER_SDP");
      std::string sdp;
      if (answer_sdp != nullptr && std::string(answer_sdp) == "1") {
        const int version = reinvite_received ? ++sdp_version_ : (sdp_version_ = 1);
        sdp = local_sdp(version, has_sdp(req) ? answer_direction(body_of(req)) : std::string());
      }
      send(response(req, 200, "OK", contact_line, sdp));
      return;
    }
    if (method == "CANCEL") {
      send(response(req, 200, "OK"));
      if (pending_invite_ && pending_invite_->get("call-id") == req.get("call-id"))
        send(response(*pending_invite_, 487, "Request Terminated"));
      return;
    }
    send(response(req, 200, "OK"));
  }

  std::optional<Msg> take_buffered() {
    const std::size_t end = stream_.find("\r\n\r\n");
    if (end == std::string::npos) return std::nullopt;
    auto head = parse(stream_.substr(0, end + 4));
    if (!head) return std::nullopt;
    const std::size_t body =
        static_cast<std::size_t>(std::atoi(head->get("content-length").c_str()));
    if (stream_.size() < end + 4 + body) return std::nullopt;
    auto m = parse(stream_.substr(0, end + 4 + body));
    stream_.erase(0, end + 4 + body);
    return m;
  }

  bool tcp_;
  std::string user_;
  std::string local_ip_ = std::getenv("SIP_UA_LOCAL_ADDRESS") != nullptr
                              ? std::getenv("SIP_UA_LOCAL_ADDRESS")
                              : "127.0.0.1";
  // The address the SDP names: the local one unless SIP_UA_SDP_ADDRESS says otherwise (NAT).
  std::string sdp_ip_ =
      std::getenv("SIP_UA_SDP_ADDRESS") != nullptr ? std::getenv("SIP_UA_SDP_ADDRESS") : local_ip_;
  int fd_ = -1;
  sockaddr_in sbc_{};
  int port_ = 0;
  std::string stream_;
  std::mt19937_64 random_{std::random_device{}()};
  std::string local_tag_ = std::to_string(std::random_device{}());
  std::optional<Msg> pending_invite_;
  int sdp_version_ = 1;  // of the SDP in the last 200 to an INVITE
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::cerr << "usage: sip_ua udp|tcp SBC_IP SBC_PORT USER ACTION...\n";
    return 2;
  }
  Ua ua(std::string(argv[1]) == "tcp", argv[2], std::atoi(argv[3]), argv[4]);
  bool ok = true;
  for (int i = 5; i < argc; ++i) {
    const std::string action = argv[i];
    if (action == "register") {
      ok = ua.do_register() && ok;
    } else if (action == "unregister") {
      ok = ua.do_register(true) && ok;
    } else if (action == "serve" && i + 1 < argc) {
      ua.serve(std::atoi(argv[++i]));
    } else if (action == "call" && i + 1 < argc) {
      ok = ua.call(argv[++i]) && ok;
    } else if (action == "ring" && i + 1 < argc) {
      ok = ua.ring_and_cancel(argv[++i]) && ok;
    } else if (action == "request" && i + 2 < argc) {
      const std::string method = argv[++i];
      ok = ua.request(method, argv[++i]) && ok;
    } else if (action == "hold" && i + 1 < argc) {
      ua.hold_ms = std::atoi(argv[++i]);
    } else if (action == "calls" && i + 2 < argc) {
      const std::string uri = argv[++i];
      ok = ua.calls(uri, std::atoi(argv[++i])) && ok;
    } else if (action == "ringonly") {
      ua.ring_only = true;
    } else if (action == "busy") {
      ua.busy = true;
    } else if (action == "reinvite") {
      ua.reinvite = true;
    } else if (action == "lateoffer") {
      ua.late_offer = true;
    } else {
      std::cerr << "sip_ua: unknown action " << action << "\n";
      return 2;
    }
  }
  return ok ? 0 : 1;
}
