#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "policy/policy_config.hpp"
#include "sbc/crypto/digest.hpp"
#include "sbc/sip/message.hpp"

using namespace sbc;
using namespace std::chrono_literals;
using policy::Decision;
using sbc::crypto::DigestAlgorithm;

namespace {

// HA1s of "alice:example.com:wonderland" (both algorithms) and "bob:example.com:builder" (MD5).
std::string credentials_text() {
  return "# test users\n" +
         policy::Credentials::line("alice", "example.com", DigestAlgorithm::Sha256, "wonderland") +
         "\n" +
         policy::Credentials::line("alice", "example.com", DigestAlgorithm::Md5, "wonderland") +
         "\n" + policy::Credentials::line("bob", "example.com", DigestAlgorithm::Md5, "builder") +
         "\n" + policy::Credentials::line("carol", "other.org", DigestAlgorithm::Md5, "x") + "\n";
}

policy::PolicyConfig auth_config() {
  policy::PolicyConfig c;
  c.chain = {"acl", "auth"};
  c.acl.trusted = {*sbc::parse_cidr("10.0.0.0/8")};
  c.auth.realm = "example.com";
  c.auth.credentials = std::make_shared<const policy::Credentials>(
      policy::Credentials::parse(credentials_text(), "example.com"));
  c.auth.nonce_key = *sbc::crypto::NonceMint::parse_key(std::string(64, 'a'));
  c.auth.ban_after_failures = 5;
  return c;
}

struct Client {
  std::string user = "alice";
  std::string password = "wonderland";
  std::string realm = "example.com";
  DigestAlgorithm algorithm = DigestAlgorithm::Sha256;
  std::string cnonce = "0a4f113b";

  // A Digest credentials value answering `nonce` for METHOD URI with count nc.
  std::string answer(std::string_view method, std::string_view uri, std::string_view nonce,
                     unsigned nc) const {
    std::array<char, 64> a{}, b{}, c{};
    const std::string_view p1[] = {user, realm, password};
    const std::string ha1(sbc::crypto::digest_hex(algorithm, p1, a));
    const std::string_view p2[] = {method, uri};
    const std::string ha2(sbc::crypto::digest_hex(algorithm, p2, b));
    char nc_text[9];
    std::snprintf(nc_text, sizeof nc_text, "%08x", nc);
    const std::string_view p3[] = {ha1, nonce, nc_text, cnonce, "auth", ha2};
    const std::string response(sbc::crypto::digest_hex(algorithm, p3, c));
    return "Digest username=\"" + user + "\", realm=\"" + realm + "\", nonce=\"" +
           std::string(nonce) + "\", uri=\"" + std::string(uri) + "\", response=\"" + response +
           "\", algorithm=" + std::string(sbc::crypto::digest_algorithm_name(algorithm)) +
           ", cnonce=\"" + cnonce + "\", qop=auth, nc=" + nc_text;
  }
};

std::string request(std::string_view method, std::string_view ruri, std::string_view from_user,
                    std::string_view to_user, std::string_view extra = {},
                    std::string_view to_tag = {}) {
  std::string m = std::string(method) + " " + std::string(ruri) + " SIP/2.0\r\n";
  m += "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n";
  m += "From: <sip:" + std::string(from_user) + "@example.com>;tag=1\r\n";
  m += "To: <sip:" + std::string(to_user) + "@example.com>";
  if (!to_tag.empty()) m += ";tag=" + std::string(to_tag);
  m += "\r\nCall-ID: a@b\r\nCSeq: 1 " + std::string(method) + "\r\n";
  m += extra;
  m += "Content-Length: 0\r\n\r\n";
  return m;
}

std::string register_request(std::string_view to_user, std::string_view credentials = {}) {
  return request(
      "REGISTER", "sip:example.com", to_user, to_user,
      credentials.empty() ? std::string() : "Authorization: " + std::string(credentials) + "\r\n");
}

struct Edge {
  std::unique_ptr<policy::Chain> chain;
  std::unique_ptr<sip::Message> m = std::make_unique<sip::Message>();
  std::string bytes;
  policy::TimePoint now = policy::TimePoint(1000s);
  policy::Chain::Outcome last;
  sbc::Protocol protocol = sbc::Protocol::Udp;

  explicit Edge(const policy::PolicyConfig& config, unsigned worker = 0)
      : chain(policy::make_chain(config, worker)) {}

  // "banned", "continue", "drop <reason>", "respond <status> <reason>"
  std::string run(const std::string& text, std::string_view ip = "192.0.2.1") {
    bytes = text;
    sbc::FlowInfo flow;
    flow.protocol = protocol;
    flow.remote_ip = ip;
    flow.remote_port = 5060;
    if (!chain->admit(flow, now)) return "banned";
    REQUIRE(m->parse(bytes, sip::Framing::Datagram, {}).is_valid());
    last = chain->decide(*m);
    if (last.decision.proceeds()) return "continue";
    const std::string reason(last.stage->reasons()[last.decision.reason]);
    if (last.decision.kind == Decision::Kind::Drop) return "drop " + reason;
    return "respond " + std::to_string(last.decision.status) + " " + reason;
  }
  std::string challenge() const { return std::string(last.decision.extra_header); }
  // The nonce of the last challenge.
  std::string nonce() const {
    const std::string c = challenge();
    const auto at = c.find("nonce=\"");
    REQUIRE(at != std::string::npos);
    return c.substr(at + 7, c.find('"', at + 7) - at - 7);
  }
};

}  // namespace

TEST_CASE("auth: credentials files", "[auth]") {
  const auto users = policy::Credentials::parse(credentials_text(), "example.com");
  CHECK(users.users() == 2);  // carol is in another realm
  CHECK(users.ha1("alice", DigestAlgorithm::Sha256));
  CHECK(users.ha1("bob", DigestAlgorithm::Md5));
  CHECK_FALSE(users.ha1("bob", DigestAlgorithm::Sha256));
  CHECK_FALSE(users.ha1("carol", DigestAlgorithm::Md5));
  CHECK_FALSE(users.ha1("mallory", DigestAlgorithm::Md5));
  CHECK_THROWS_WITH(policy::Credentials::parse("alice:example.com:MD5\n", "example.com"),
                    Catch::Contains("line 1"));
  CHECK_THROWS_WITH(policy::Credentials::parse("\nalice:example.com:SHA-1:00\n", "example.com"),
                    Catch::Contains("line 2") && Catch::Contains("MD5 or SHA-256"));
  CHECK_THROWS_WITH(policy::Credentials::parse("alice:example.com:MD5:XYZ\n", "example.com"),
                    Catch::Contains("32 lowercase hex"));
  const std::string twice =
      policy::Credentials::line("a", "example.com", DigestAlgorithm::Md5, "p") + "\n";
  CHECK_THROWS_WITH(policy::Credentials::parse(twice + twice, "example.com"),
                    Catch::Contains("second MD5"));
}

TEST_CASE("auth: challenges, then SHA-256 and MD5 answers pass with the identity asserted",
          "[auth]") {
  Edge edge(auth_config());
  CHECK(edge.run(register_request("alice")) == "respond 401 challenge");
  const std::string challenge = edge.challenge();
  // SHA-256 is offered first, MD5 second, both with qop=auth and the same nonce.
  const auto sha = challenge.find("WWW-Authenticate: Digest realm=\"example.com\"");
  CHECK(sha == 0);
  CHECK(challenge.find("algorithm=SHA-256") < challenge.find("\r\nWWW-Authenticate:"));
  CHECK(challenge.find("algorithm=MD5") > challenge.find("\r\nWWW-Authenticate:"));
  CHECK(challenge.find("qop=\"auth\"") != std::string::npos);
  CHECK(challenge.find("stale") == std::string::npos);
  const std::string nonce = edge.nonce();

  Client alice;
  const std::string answer = alice.answer("REGISTER", "sip:example.com", nonce, 1);
  CHECK(edge.run(register_request("alice", answer)) == "continue");
  CHECK(edge.last.asserted_identity == "<sip:alice@example.com>");
  CHECK(edge.last.consumed_credentials == "Authorization: " + answer + "\r\n");

  // Other requests are challenged with 407 and Proxy-Authenticate.
  const std::string invite = request("INVITE", "sip:bob@example.com", "alice", "bob");
  CHECK(edge.run(invite) == "respond 407 challenge");
  CHECK(edge.challenge().rfind("Proxy-Authenticate: Digest", 0) == 0);
  Client alice_md5;
  alice_md5.algorithm = DigestAlgorithm::Md5;
  const std::string invite_answer =
      alice_md5.answer("INVITE", "sip:bob@example.com", edge.nonce(), 1);
  CHECK(edge.run(request("INVITE", "sip:bob@example.com", "alice", "bob",
                         "Proxy-Authorization: " + invite_answer + "\r\n")) == "continue");
  CHECK(edge.last.asserted_identity == "<sip:alice@example.com>");
}

TEST_CASE("auth: replays, stale and foreign nonces", "[auth]") {
  Edge edge(auth_config());
  Client alice;
  edge.run(register_request("alice"));
  const std::string nonce = edge.nonce();
  const std::string first =
      register_request("alice", alice.answer("REGISTER", "sip:example.com", nonce, 1));
  CHECK(edge.run(first) == "continue");
  // The same request again (a captured REGISTER replayed): a fresh challenge, marked stale.
  CHECK(edge.run(first) == "respond 401 replay");
  CHECK(edge.challenge().find("stale=true") != std::string::npos);
  // The honest client counts up.
  CHECK(edge.run(register_request(
            "alice", alice.answer("REGISTER", "sip:example.com", nonce, 2))) == "continue");
  CHECK(edge.run(register_request("alice", alice.answer("REGISTER", "sip:example.com", nonce,
                                                        2))) == "respond 401 replay");

  // The nonce was issued to 192.0.2.1: from elsewhere it is not accepted, even with the right
  // password (the client gets a nonce of its own).
  CHECK(edge.run(register_request("alice", alice.answer("REGISTER", "sip:example.com", nonce, 3)),
                 "192.0.2.99") == "respond 401 stale_nonce");
  // Nor by another worker (which does not hold its counts).
  Edge other_worker(auth_config(), 1);
  other_worker.now = edge.now;
  CHECK(other_worker.run(
            register_request("alice", alice.answer("REGISTER", "sip:example.com", nonce, 3))) ==
        "respond 401 stale_nonce");
  // An altered nonce does not open.
  std::string forged = nonce;
  forged[0] = forged[0] == 'f' ? 'e' : 'f';
  CHECK(edge.run(register_request("alice", alice.answer("REGISTER", "sip:example.com", forged,
                                                        1))) == "respond 401 stale_nonce");
  // Expired after the nonce lifetime (300 s): stale=true, and the new nonce works.
  edge.now += 301s;
  CHECK(edge.run(register_request("alice", alice.answer("REGISTER", "sip:example.com", nonce,
                                                        4))) == "respond 401 stale_nonce");
  CHECK(edge.challenge().find("stale=true") != std::string::npos);
  CHECK(edge.run(register_request(
            "alice", alice.answer("REGISTER", "sip:example.com", edge.nonce(), 1))) == "continue");
}

TEST_CASE("auth: nonces the bounded table forgot cannot be replayed", "[auth]") {
  policy::PolicyConfig config = auth_config();
  config.auth.max_nonces = 64;
  Edge edge(config);
  Client alice;
  edge.run(register_request("alice"));
  const std::string early =
      register_request("alice", alice.answer("REGISTER", "sip:example.com", edge.nonce(), 1));
  CHECK(edge.run(early) == "continue");
  // Many clients later (a new nonce each second), the early nonce has been evicted.
  for (int i = 0; i < 200; ++i) {
    edge.now += 1s;
    edge.run(register_request("alice"));
    REQUIRE(edge.run(register_request("alice", alice.answer("REGISTER", "sip:example.com",
                                                            edge.nonce(), 1))) == "continue");
  }
  CHECK(edge.run(early) == "respond 401 replay");
}

TEST_CASE("auth: unknown users and wrong passwords look alike, and failures end in a ban",
          "[auth]") {
  Edge edge(auth_config());
  Client wrong;
  wrong.password = "guess";
  Client unknown;
  unknown.user = "mallory";
  edge.run(register_request("alice"));
  const std::string nonce = edge.nonce();
  CHECK(edge.run(register_request("alice", wrong.answer("REGISTER", "sip:example.com", nonce,
                                                        1))) == "respond 401 failed");
  auto masked = [&edge] {
    std::string c = edge.challenge();
    const std::string n = edge.nonce();
    std::string out;
    std::size_t from = 0;
    for (auto at = c.find(n); at != std::string::npos; from = at + n.size(), at = c.find(n, from))
      out.append(c, from, at - from).append("N");
    return out.append(c, from);
  };
  const std::string for_wrong_password = masked();
  CHECK(edge.run(register_request("mallory", unknown.answer("REGISTER", "sip:example.com", nonce,
                                                            1))) == "respond 401 failed");
  CHECK(masked() == for_wrong_password);
  edge.run(register_request("alice"));
  CHECK(masked() == for_wrong_password);  // the same as a first challenge
  // ban_after_failures = 5: the fifth failure is dropped and bans the source.
  CHECK(edge.run(register_request("alice", wrong.answer("REGISTER", "sip:example.com", nonce,
                                                        2))) == "respond 401 failed");
  CHECK(edge.run(register_request("alice", wrong.answer("REGISTER", "sip:example.com", nonce,
                                                        3))) == "respond 401 failed");
  CHECK(edge.run(register_request(
            "alice", wrong.answer("REGISTER", "sip:example.com", nonce, 4))) == "drop failed");
  CHECK(edge.run(register_request("alice")) == "banned");
  // Another source is not affected.
  CHECK(edge.run(register_request("alice"), "192.0.2.2") == "respond 401 challenge");
}

TEST_CASE("auth: a user binds only its own address-of-record and sends only as itself", "[auth]") {
  Edge edge(auth_config());
  Client alice;
  edge.run(register_request("alice"));
  std::string nonce = edge.nonce();
  // Registration hijacking: alice's credentials, bob's address-of-record.
  CHECK(edge.run(request("REGISTER", "sip:example.com", "alice", "bob",
                         "Authorization: " + alice.answer("REGISTER", "sip:example.com", nonce, 1) +
                             "\r\n")) == "respond 403 aor_not_own");
  CHECK(edge.run(request(
            "INVITE", "sip:carol@example.com", "bob", "carol",
            "Proxy-Authorization: " + alice.answer("INVITE", "sip:carol@example.com", nonce, 2) +
                "\r\n")) == "respond 403 aor_not_own");
  // The digest uri must be the Request-URI (a response computed for another request).
  CHECK(edge.run(request(
            "INVITE", "sip:carol@example.com", "alice", "carol",
            "Proxy-Authorization: " + alice.answer("INVITE", "sip:dave@example.com", nonce, 3) +
                "\r\n")) == "respond 400 malformed");
  // Credentials for another realm are not ours: a challenge.
  Client elsewhere;
  elsewhere.realm = "core.example.net";
  CHECK(edge.run(register_request("alice", elsewhere.answer("REGISTER", "sip:example.com", nonce,
                                                            1))) == "respond 401 challenge");
}

TEST_CASE("auth: what is not challenged", "[auth]") {
  policy::PolicyConfig config = auth_config();
  config.auth.algorithms = {DigestAlgorithm::Sha256};
  Edge edge(config);
  // ACK and CANCEL cannot be; in-dialog requests are the relay's dialog protection's; an OPTIONS
  // to the edge itself is a keep-alive; trusted peers pass.
  CHECK(edge.run(request("ACK", "sip:bob@example.com", "alice", "bob")) == "continue");
  CHECK(edge.run(request("CANCEL", "sip:bob@example.com", "alice", "bob")) == "continue");
  CHECK(edge.run(request("BYE", "sip:bob@example.com", "alice", "bob", {}, "x1")) == "continue");
  CHECK(edge.run(request("OPTIONS", "sip:example.com", "alice", "alice")) == "continue");
  CHECK(edge.run(request("OPTIONS", "sip:bob@example.com", "alice", "bob")) ==
        "respond 407 challenge");
  CHECK(edge.run(request("INVITE", "sip:bob@example.com", "alice", "bob"), "10.1.2.3") ==
        "continue");
  // Only SHA-256 is offered: an MD5 answer is not accepted.
  edge.run(register_request("alice"));
  CHECK(edge.challenge().find("MD5") == std::string::npos);
  Client md5;
  md5.algorithm = DigestAlgorithm::Md5;
  CHECK(edge.run(register_request("alice", md5.answer("REGISTER", "sip:example.com", edge.nonce(),
                                                      1))) == "respond 401 challenge");
}

TEST_CASE("auth: core mode challenges nothing and bans on the core's refusals", "[auth]") {
  policy::PolicyConfig config = auth_config();
  config.auth.mode = policy::AuthSettings::Mode::Core;
  config.auth.credentials.reset();
  config.auth.ban_after_failures = 3;
  Edge edge(config);
  CHECK(edge.run(register_request("alice")) == "continue");
  CHECK(edge.last.asserted_identity.empty());
  // The relay reports the core's refusals of this source's credentials; the third bans it.
  edge.chain->core_refused("192.0.2.1", sbc::Protocol::Udp, edge.now);
  edge.chain->core_refused("192.0.2.1", sbc::Protocol::Udp, edge.now);
  CHECK(edge.run(register_request("alice")) == "continue");
  edge.chain->core_refused("192.0.2.1", sbc::Protocol::Udp, edge.now);
  CHECK(edge.run(register_request("alice")) == "banned");
  CHECK(edge.run(register_request("alice"), "192.0.2.2") == "continue");
  edge.chain->core_refused("not an address", sbc::Protocol::Udp, edge.now);  // ignored
  // In edge mode the stage checks credentials itself: the core's refusals are not counted twice.
  Edge edge_mode(auth_config());
  for (int i = 0; i < 20; ++i)
    edge_mode.chain->core_refused("192.0.2.1", sbc::Protocol::Udp, edge_mode.now);
  CHECK(edge_mode.run(register_request("alice")) == "respond 401 challenge");
}

TEST_CASE("auth: a source that answers a nonce is past the amplification budget", "[auth]") {
  policy::PolicyConfig config = auth_config();
  config.settings.amplification.excess_burst_bytes = 100;
  config.settings.amplification.excess_bytes_per_second = 0;
  Edge edge(config);
  CHECK(edge.run(register_request("alice")) == "respond 401 challenge");
  CHECK(edge.chain->may_answer(300, 350));
  CHECK_FALSE(edge.chain->may_answer(300, 400));  // 50 + 100 > the budget of 100
  CHECK(edge.chain->may_answer(300, 300));        // never more than the request: always
  // A wrong password still proves the address got our nonce.
  Client wrong;
  wrong.password = "guess";
  CHECK(edge.run(register_request("alice", wrong.answer("REGISTER", "sip:example.com", edge.nonce(),
                                                        1))) == "respond 401 failed");
  CHECK(edge.chain->may_answer(300, 4000));
  // Another source is still held to its budget.
  edge.run(register_request("alice"), "192.0.2.7");
  CHECK_FALSE(edge.chain->may_answer(300, 4000));
}

TEST_CASE("auth: an authenticated source is a trust tier: more rate, no enumeration scoring",
          "[auth]") {
  policy::PolicyConfig config = auth_config();
  config.chain = {"scanner", "rate_limit", "auth"};
  config.scanner.max_users_per_window = 10;
  config.rate_limit.register_requests = {1, 5};
  Edge edge(config);
  Client alice;
  // An office behind one address: before anyone authenticates, many users look like a sweep.
  int answered = 0;
  for (int i = 0; i < 8; ++i)
    if (edge.run(register_request("alice")).starts_with("respond 401")) ++answered;
  CHECK(answered == 5);  // the REGISTER bucket: burst 5
  edge.now += 10s;
  edge.run(register_request("alice"));
  REQUIRE(edge.run(register_request("alice", alice.answer("REGISTER", "sip:example.com",
                                                          edge.nonce(), 1))) == "continue");
  // Authenticated: four times the bucket, and many users do not make it a scanner.
  answered = 0;
  for (int i = 0; i < 18; ++i) {
    const std::string user = "user" + std::to_string(i);
    if (edge.run(request("OPTIONS", "sip:" + user + "@example.com", "alice", user))
            .starts_with("respond 407"))
      ++answered;
  }
  CHECK(answered == 18);
  edge.now += 5s;  // the bucket refills at 4 a second, up to 20
  answered = 0;
  for (int i = 0; i < 25; ++i)
    if (edge.run(register_request("alice")).starts_with("respond 401")) ++answered;
  CHECK(answered == 20);
  // Those drops were of UDP datagrams, which anyone could have sent from alice's address: the
  // trust stays (else a forged flood, then a forged sweep, would get her banned).
  edge.now += 30s;
  answered = 0;
  for (int i = 0; i < 18; ++i) {
    const std::string user = "mid" + std::to_string(i);
    if (edge.run(request("OPTIONS", "sip:" + user + "@example.com", "alice", user))
            .starts_with("respond 407"))
      ++answered;
  }
  CHECK(answered == 18);
  // Dropped for flooding over TCP (a verified address): the trust is gone, the plain limits
  // apply again.
  edge.now += 30s;
  edge.protocol = sbc::Protocol::Tcp;
  for (int i = 0; i < 25; ++i) edge.run(register_request("alice"));
  edge.protocol = sbc::Protocol::Udp;
  for (int i = 0; i < 18; ++i) {
    const std::string user = "next" + std::to_string(i);
    edge.run(request("OPTIONS", "sip:" + user + "@example.com", "alice", user));
  }
  CHECK(edge.run(register_request("alice")) == "banned");
}

TEST_CASE("auth: nonces from before the stage existed (a restart, a reload) are not trusted",
          "[auth]") {
  Edge before(auth_config());
  Client alice;
  before.run(register_request("alice"));
  const std::string old_nonce = before.nonce();
  const std::string answer =
      register_request("alice", alice.answer("REGISTER", "sip:example.com", old_nonce, 1));
  CHECK(before.run(answer) == "continue");
  // The same key after a restart or reload: the old stage's nonce counts are gone, so its
  // nonces could be replayed; they get a fresh challenge instead.
  Edge after(auth_config());
  after.now = before.now + 2s;
  CHECK(after.run(answer) == "respond 401 replay");
  CHECK(after.run(register_request(
            "alice", alice.answer("REGISTER", "sip:example.com", after.nonce(), 1))) == "continue");
}

TEST_CASE("auth: a nonce answered to one replica cannot be replayed to another", "[auth]") {
  // Two replicas behind one address, sharing the nonce key and both running since before the
  // nonce was issued: the answer replica 1 accepted is refused by replica 2 (which never saw its
  // counts), with stale=true so that an honest client that moved answers a nonce of replica 2.
  policy::PolicyConfig one = auth_config(), two = auth_config();
  one.auth.replica = 1;
  two.auth.replica = 2;
  Edge first(one), second(two);
  Client alice;
  first.run(register_request("alice"));
  const std::string answer =
      register_request("alice", alice.answer("REGISTER", "sip:example.com", first.nonce(), 1));
  first.now += 1s;
  second.now = first.now;
  CHECK(first.run(answer) == "continue");
  CHECK(second.run(answer) == "respond 401 stale_nonce");
  CHECK(second.challenge().find("stale=true") != std::string::npos);
  CHECK(second.run(register_request("alice", alice.answer("REGISTER", "sip:example.com",
                                                          second.nonce(), 1))) == "continue");
  // Each replica still holds the counts of its own nonces.
  CHECK(first.run(answer) == "respond 401 replay");
}

TEST_CASE("auth: one user's requests are limited wherever they come from", "[auth]") {
  policy::PolicyConfig config = auth_config();
  config.auth.user_rate = 1;
  config.auth.user_burst = 3;
  Edge edge(config);
  Client alice;
  int passed = 0;
  for (int i = 0; i < 6; ++i) {
    const std::string ip = "192.0.2." + std::to_string(10 + i);  // a stolen password, many hosts
    edge.run(register_request("alice"), ip);
    if (edge.run(
            register_request("alice", alice.answer("REGISTER", "sip:example.com", edge.nonce(), 1)),
            ip) == "continue")
      ++passed;
  }
  CHECK(passed == 3);
  CHECK(edge.chain->decisions(1, policy::AuthStage::kUserFlood).value() == 3);
}

TEST_CASE("auth: a user drained on several replicas is held to its share on each",
          "[auth][fleet]") {
  policy::PolicyConfig config = auth_config();
  config.auth.nonce_key_configured = true;  // the fleet's shared key: one user key everywhere
  config.auth.user_rate = 1;
  config.auth.user_burst = 4;
  Edge replicas[] = {Edge(config), Edge(config)};
  std::vector<policy::HeavyUse> reports[2];
  for (int i = 0; i < 2; ++i)
    replicas[i].chain->set_heavy_reporting(
        [&reports, i](const policy::HeavyUse& use) { reports[i].push_back(use); });
  Client alice;
  unsigned nc = 0;
  auto registered = [&](Edge& edge, std::string_view ip) {
    edge.run(register_request("alice"), std::string(ip));
    return edge.run(register_request(
                        "alice", alice.answer("REGISTER", "sip:example.com", edge.nonce(), ++nc)),
                    std::string(ip)) == "continue";
  };
  // Replica 0: three of the four at once leave the bucket below half: reported.
  for (int i = 0; i < 3; ++i) CHECK(registered(replicas[0], "192.0.2.40"));
  REQUIRE(reports[0].size() == 1);
  CHECK(reports[0][0].stage == "auth");
  CHECK(reports[0][0].scope == policy::BanScope::All);  // a password is evidence on any transport
  // Replica 1 meets the user too; then the fleet says two drain it: half the burst there.
  CHECK(registered(replicas[1], "198.51.100.7"));
  replicas[1].chain->spread(reports[0][0], 2, replicas[1].now);
  int passed = 0;
  for (int i = 0; i < 4; ++i) passed += registered(replicas[1], "198.51.100.7") ? 1 : 0;
  CHECK(passed == 2);  // 3 tokens were left: held to a burst of 2 (3 without the word)
  // Both replicas name the user alike in the store.
  REQUIRE(!reports[1].empty());
  CHECK(reports[1][0].key == reports[0][0].key);
}

TEST_CASE("auth: failures add up at the source's home worker, whichever worker saw them",
          "[auth]") {
  policy::PolicyConfig config = auth_config();
  config.auth.ban_after_failures = 4;
  Edge workers[] = {Edge(config, 0), Edge(config, 1)};
  for (unsigned w = 0; w < 2; ++w)
    workers[w].chain->set_strike_forwarding(
        w, 2,
        [&workers](unsigned home, const sbc::SourceKey& key, std::string_view stage,
                   policy::BanScope scope) {
          workers[home].chain->strike(key, stage, workers[home].now, scope);
        });
  // The fleet (replicas sharing a store) hears each verified failure once, from the home worker.
  std::vector<std::pair<unsigned, unsigned>> shared;  // (worker, limit)
  for (unsigned w = 0; w < 2; ++w)
    workers[w].chain->set_strike_sharing([&shared, w](const policy::FleetStrike& strike) {
      CHECK(strike.window == std::chrono::seconds(600));
      CHECK(strike.stage == "auth");
      CHECK(strike.reason == "failures");
      CHECK(strike.scope == policy::BanScope::All);
      CHECK(strike.weight == 1);
      shared.emplace_back(w, strike.limit);
    });
  Client wrong;
  wrong.password = "guess";
  // The guesser's ports land on both workers, two wrong answers each.
  for (int round = 0; round < 2; ++round) {
    for (Edge& edge : workers) {
      edge.run(register_request("alice"));
      edge.run(
          register_request("alice", wrong.answer("REGISTER", "sip:example.com", edge.nonce(), 1)));
    }
  }
  // Four failures in all: the home worker banned the source (the daemon then tells the other),
  // over every transport: each answered a nonce issued to that address.
  const auto key = *sbc::source_key("192.0.2.1", 64);
  const unsigned home = static_cast<unsigned>(key.hash() % 2);
  CHECK(workers[home].chain->bans().banned(key, workers[home].now, false));
  CHECK_FALSE(workers[1 - home].chain->bans().banned(key, workers[1 - home].now, true));
  REQUIRE(shared.size() == 4);
  for (const auto& [w, limit] : shared) {
    CHECK(w == home);
    CHECK(limit == 4);
  }
}

TEST_CASE("auth: a source that gets nothing but the edge's challenges is a scanner",
          "[auth][policy]") {
  policy::PolicyConfig config = auth_config();
  config.chain = {"acl", "scanner", "auth"};
  config.scanner.max_users_per_window = 0;  // renamed svwar, slower than the enumeration score
  Edge edge(config);
  // It never answers a challenge, so the auth stage sees no failure to count.
  int challenged = 0;
  std::string last;
  for (int user = 100; user < 140 && last != "drop refusals"; ++user) {
    last = edge.run(register_request(std::to_string(user)), "192.0.2.80");
    if (last == "respond 401 challenge") ++challenged;
  }
  CHECK(last == "drop refusals");
  CHECK(challenged == 20);
  CHECK(edge.run(register_request("alice"), "192.0.2.80") == "banned");
  // A phone that authenticates is exempt, however often it is challenged (here without even
  // the core's 200s in between).
  Client alice;
  for (int i = 0; i < 40; ++i) {
    REQUIRE(edge.run(register_request("alice"), "192.0.2.81") == "respond 401 challenge");
    REQUIRE(edge.run(register_request("alice",
                                      alice.answer("REGISTER", "sip:example.com", edge.nonce(), 1)),
                     "192.0.2.81") == "continue");
  }
  // Trusted peers too.
  for (int user = 100; user < 140; ++user)
    REQUIRE(edge.run(register_request(std::to_string(user)), "10.1.2.3") == "continue");
}

TEST_CASE("auth: a wrong answer counts only for a valid nonce issued to its source", "[auth]") {
  Edge edge(auth_config());  // ban_after_failures 5
  Client wrong;
  wrong.password = "guess";
  // Invented nonces "from" 192.0.2.1 (a forger never sees our challenges): a fresh challenge
  // each, nothing counted.
  for (int i = 0; i < 10; ++i) {
    const std::string invented = std::string(55, 'a') + static_cast<char>('0' + i);
    CHECK(edge.run(register_request("alice", wrong.answer("REGISTER", "sip:example.com", invented,
                                                          1))) == "respond 401 foreign_nonce");
  }
  // A nonce issued to another address (the forger's own), answered "from" 192.0.2.1.
  edge.run(register_request("alice"), "192.0.2.66");
  const std::string elsewhere = edge.nonce();
  for (unsigned i = 1; i <= 10; ++i)
    CHECK(edge.run(register_request("alice", wrong.answer("REGISTER", "sip:example.com", elsewhere,
                                                          i))) == "respond 401 foreign_nonce");
  // An expired nonce of its own.
  edge.run(register_request("alice"));
  const std::string old = edge.nonce();
  edge.now += 301s;
  for (unsigned i = 1; i <= 10; ++i)
    CHECK(edge.run(register_request("alice", wrong.answer("REGISTER", "sip:example.com", old,
                                                          i))) == "respond 401 foreign_nonce");
  CHECK(edge.chain->bans_total().value() == 0);
  // Its own valid nonce: counted, and the fifth failure bans, over every transport (the nonce
  // proved the address).
  edge.run(register_request("alice"));
  const std::string own = edge.nonce();
  for (unsigned i = 1; i <= 4; ++i)
    CHECK(edge.run(register_request("alice", wrong.answer("REGISTER", "sip:example.com", own,
                                                          i))) == "respond 401 failed");
  CHECK(edge.run(register_request("alice", wrong.answer("REGISTER", "sip:example.com", own, 5))) ==
        "drop failed");
  edge.protocol = sbc::Protocol::Tcp;
  CHECK(edge.run(register_request("alice")) == "banned");
}

TEST_CASE("auth: failures are forgotten after the failure window", "[auth]") {
  policy::PolicyConfig config = auth_config();  // ban_after_failures 5
  config.auth.failure_window = 600s;
  Edge edge(config);
  Client wrong;
  wrong.password = "guess";
  auto fail_once = [&] {
    edge.run(register_request("alice"));
    return edge.run(
        register_request("alice", wrong.answer("REGISTER", "sip:example.com", edge.nonce(), 1)));
  };
  for (int i = 0; i < 4; ++i) CHECK(fail_once() == "respond 401 failed");
  edge.now += 601s;  // a window after the first failure: the count starts afresh
  for (int i = 0; i < 4; ++i) CHECK(fail_once() == "respond 401 failed");
  CHECK(fail_once() == "drop failed");
  CHECK(edge.run(register_request("alice")) == "banned");
}

TEST_CASE("auth: core mode: trusted peers are never banned, counts decay, UDP bans UDP only",
          "[auth]") {
  policy::PolicyConfig config = auth_config();  // trusts 10.0.0.0/8
  config.auth.mode = policy::AuthSettings::Mode::Core;
  config.auth.credentials.reset();
  config.auth.ban_after_failures = 3;
  config.auth.failure_window = 600s;
  Edge edge(config);
  using sbc::Protocol;
  // A trusted trunk whose calls the core keeps refusing.
  for (int i = 0; i < 50; ++i) edge.chain->core_refused("10.1.2.3", Protocol::Tcp, edge.now);
  CHECK(edge.run(register_request("alice"), "10.1.2.3") == "continue");
  // Refusals of UDP requests: a ban over UDP only.
  for (int i = 0; i < 3; ++i) edge.chain->core_refused("192.0.2.1", Protocol::Udp, edge.now);
  CHECK(edge.run(register_request("alice")) == "banned");
  edge.protocol = Protocol::Tcp;
  CHECK(edge.run(register_request("alice")) == "continue");
  // Over TCP: everywhere.
  for (int i = 0; i < 3; ++i) edge.chain->core_refused("192.0.2.2", Protocol::Tcp, edge.now);
  CHECK(edge.run(register_request("alice"), "192.0.2.2") == "banned");
  edge.protocol = Protocol::Udp;
  CHECK(edge.run(register_request("alice"), "192.0.2.2") == "banned");
  // Refusals spread thinner than the window never add up to a ban.
  for (int i = 0; i < 10; ++i) {
    edge.chain->core_refused("192.0.2.3", Protocol::Tcp, edge.now);
    edge.chain->core_refused("192.0.2.3", Protocol::Tcp, edge.now);
    edge.now += 601s;
  }
  CHECK(edge.run(register_request("alice"), "192.0.2.3") == "continue");
}

TEST_CASE("auth: the address-of-record's domain is checked, with aliases", "[auth]") {
  Client alice;
  auto in_domain = [](std::string text, std::string_view domain) {
    // From and To of the request (the Request-URI stays sip:example.com).
    for (std::string_view who : {"From: <sip:alice@example.com>", "To: <sip:alice@example.com>"}) {
      const auto at = text.find(who);
      if (at != std::string::npos)
        text.replace(at, who.size(),
                     std::string(who.substr(0, who.find('@') + 1)) + std::string(domain) + ">");
    }
    return text;
  };
  auto attempt = [&](Edge& edge, std::string_view domain, std::string_view method = "REGISTER") {
    const bool registering = method == "REGISTER";
    const std::string uri = registering ? "sip:example.com" : "sip:bob@example.com";
    const std::string plain =
        registering ? register_request("alice") : request(method, uri, "alice", "bob");
    edge.run(in_domain(plain, domain));
    const std::string header = registering ? "Authorization: " : "Proxy-Authorization: ";
    const std::string answered =
        registering ? register_request("alice", alice.answer(method, uri, edge.nonce(), 1))
                    : request(method, uri, "alice", "bob",
                              header + alice.answer(method, uri, edge.nonce(), 1) + "\r\n");
    return edge.run(in_domain(answered, domain));
  };
  // By default the identity domain (here the realm, example.com).
  Edge edge(auth_config());
  CHECK(attempt(edge, "other.example") == "respond 403 aor_not_own");
  CHECK(attempt(edge, "example.com") == "continue");
  CHECK(attempt(edge, "EXAMPLE.com:5060") == "continue");  // case and port do not matter
  CHECK(attempt(edge, "example.com.evil") == "respond 403 aor_not_own");
  CHECK(attempt(edge, "other.example", "INVITE") == "respond 403 aor_not_own");  // bind_from
  CHECK(attempt(edge, "example.com", "INVITE") == "continue");
  // Configured aliases replace the default.
  policy::PolicyConfig config = auth_config();
  config.auth.domains = {"example.com", "alias.example"};
  Edge aliased(config);
  CHECK(attempt(aliased, "alias.example") == "continue");
  CHECK(attempt(aliased, "other.example") == "respond 403 aor_not_own");
  // An identity domain other than the realm is the default.
  config = auth_config();
  config.auth.identity_domain = "corp.example";
  Edge corp(config);
  CHECK(attempt(corp, "corp.example") == "continue");
  CHECK(attempt(corp, "example.com") == "respond 403 aor_not_own");
}
