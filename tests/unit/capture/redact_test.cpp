#include <catch2/catch.hpp>

#include <string>

#include "sbc/capture/redact.hpp"
#include "sbc/sip/message.hpp"

using sbc::capture::redact_credentials;

namespace {

constexpr const char* kSecret = "0123456789abcdef0123456789abcdef";

std::string register_with(const std::string& headers) {
  return "REGISTER sip:example.com SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKr1\r\n"
         "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=1\r\n"
         "To: <sip:alice@example.com>\r\nCall-ID: c1@192.0.2.7\r\nCSeq: 1 REGISTER\r\n" +
         headers + "Content-Length: 0\r\n\r\n";
}

std::string digest(const std::string& name, const std::string& response = kSecret) {
  return name +
         ": Digest username=\"alice\", realm=\"example.com\", nonce=\"abc\", "
         "uri=\"sip:example.com\", response=\"" +
         response + "\", algorithm=MD5\r\n";
}

}  // namespace

TEST_CASE("the Digest response is blanked in place, every length kept", "[capture][redact]") {
  for (const char* name : {"Authorization", "Proxy-Authorization", "authorization",
                           "PROXY-AUTHORIZATION", "Authorization \t"}) {
    INFO(name);
    std::string m = register_with(digest(name));
    const std::size_t size = m.size();
    CHECK(redact_credentials(m) == 1);
    CHECK(m.size() == size);
    CHECK(m.find(kSecret) == std::string::npos);
    CHECK(m.find("response=\"00000000000000000000000000000000\"") != std::string::npos);
    // The rest of the credentials stays (username, nonce ... are what replay and analysis need).
    CHECK(m.find("username=\"alice\", realm=\"example.com\", nonce=\"abc\"") != std::string::npos);
  }
  // Still a valid message with a well-formed Authorization: `sbc replay` replays it.
  std::string m = register_with(digest("Authorization"));
  redact_credentials(m);
  sbc::sip::Message parsed;
  CHECK(parsed.parse(m, sbc::sip::Framing::Datagram, {}).is_valid());
}

TEST_CASE("redaction finds the response however it is written", "[capture][redact]") {
  const std::string sha256(64, 'e');
  const struct {
    const char* what;
    std::string header;
    std::string secret;
  } rows[] = {
      {"folded before the parameter",
       "Authorization: Digest username=\"alice\",\r\n  response=\"" + std::string(kSecret) +
           "\"\r\n",
       kSecret},
      {"folded around the equal sign",
       "Authorization: Digest username=\"alice\", RESPONSE\r\n\t=\r\n \"" + std::string(kSecret) +
           "\"\r\n",
       kSecret},
      {"SHA-256, first parameter", "Authorization: Digest response=\"" + sha256 + "\"\r\n", sha256},
      {"unquoted token", "Authorization: Digest response=" + std::string(kSecret) + ", nc=1\r\n",
       kSecret},
      {"two Authorization headers",
       digest("Authorization") + "Authorization: Digest response=\"" + sha256 + "\"\r\n", sha256},
      {"Basic (any other scheme: every value)", "Authorization: Basic YWxpY2U6c2VjcmV0\r\n",
       "YWxpY2U6c2VjcmV0"},
      {"unknown scheme with parameters", "Proxy-Authorization: Foo token=\"s3cr3t\", x=y2\r\n",
       "s3cr3t"},
      {"malformed: a quoted string never closed",
       "Authorization: Digest username=\"alice\", response=\"" + std::string(kSecret) + "\r\n",
       kSecret},
      {"malformed: garbage before the response",
       "Authorization: Digest username=\"alice\" ; response=\"" + std::string(kSecret) + "\"\r\n",
       kSecret},
  };
  for (const auto& row : rows) {
    INFO(row.what);
    std::string m = register_with(row.header);
    const std::size_t size = m.size();
    CHECK(redact_credentials(m) >= 1);
    CHECK(m.size() == size);
    CHECK(m.find(row.secret) == std::string::npos);
    CHECK(m.find("\r\nContent-Length: 0\r\n\r\n") != std::string::npos);  // framing intact
  }
}

TEST_CASE("redaction leaves everything else alone", "[capture][redact]") {
  // Other headers named like a parameter, the body, and a message without credentials.
  std::string m = register_with("X-Note: response=\"" + std::string(kSecret) +
                                "\"\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n\"\r\n");
  const std::string before = m;
  CHECK(redact_credentials(m) == 0);
  CHECK(m == before);
  std::string with_body = "MESSAGE sip:bob@example.com SIP/2.0\r\nContent-Length: 62\r\n\r\n" +
                          digest("Authorization").substr(0, 60) + "\r\n";
  const std::string body_before = with_body;
  CHECK(redact_credentials(with_body) == 0);
  CHECK(with_body == body_before);
  std::string empty;
  CHECK(redact_credentials(empty) == 0);
  std::string junk("\0\r\n\n:\r\nAuthorization", 20);
  CHECK(redact_credentials(junk) == 0);
}
