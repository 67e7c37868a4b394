// The TTL of SRV answers (c-ares 1.18 drops it), read from DNS messages built here byte by byte.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "sbc/dns/dns_answer.hpp"

using sbc::dns::min_answer_ttl;

namespace {
constexpr std::uint16_t kSrv = 33, kA = 1;

struct DnsMessage {
  std::vector<unsigned char> bytes;
  void u16(unsigned v) {
    bytes.push_back(static_cast<unsigned char>(v >> 8));
    bytes.push_back(static_cast<unsigned char>(v));
  }
  void u32(std::uint32_t v) {
    u16(v >> 16);
    u16(v & 0xFFFF);
  }
  void name(const std::vector<std::string>& labels) {
    for (const std::string& l : labels) {
      bytes.push_back(static_cast<unsigned char>(l.size()));
      bytes.insert(bytes.end(), l.begin(), l.end());
    }
    bytes.push_back(0);
  }
  // An answer record whose name points at the question's (offset 12).
  void record(std::uint16_t type, std::uint32_t ttl, const std::vector<unsigned char>& data) {
    u16(0xC00C);
    u16(type);
    u16(1);
    u32(ttl);
    u16(static_cast<unsigned>(data.size()));
    bytes.insert(bytes.end(), data.begin(), data.end());
  }
};

// A response to "_sip._udp.core.test SRV" with `ttls.size()` SRV records, the last `a_ttl` an A.
DnsMessage srv_answer(const std::vector<std::uint32_t>& ttls, std::uint32_t a_ttl = 0) {
  DnsMessage m;
  m.u16(0x1234);  // id
  m.u16(0x8180);  // response, recursion
  m.u16(1);       // questions
  m.u16(static_cast<unsigned>(ttls.size() + (a_ttl != 0 ? 1 : 0)));
  m.u16(0);
  m.u16(0);
  m.name({"_sip", "_udp", "core", "test"});
  m.u16(kSrv);
  m.u16(1);
  for (std::uint32_t ttl : ttls) {
    // priority, weight, port, target "core1.test"
    std::vector<unsigned char> data{0,   10,  0,   5, 0x13, 0xC4, 5,   'c', 'o',
                                    'r', 'e', '1', 4, 't',  'e',  's', 't', 0};
    m.record(kSrv, ttl, data);
  }
  if (a_ttl != 0) m.record(kA, a_ttl, {127, 0, 0, 1});
  return m;
}
}  // namespace

TEST_CASE("the smallest TTL of the SRV records of an answer", "[dns]") {
  CHECK(min_answer_ttl(srv_answer({300, 60, 120}).bytes, kSrv) == std::optional<std::uint32_t>{60});
  // Records of another type (additional A records in the answer) do not count.
  CHECK(min_answer_ttl(srv_answer({300}, 5).bytes, kSrv) == std::optional<std::uint32_t>{300});
  CHECK(min_answer_ttl(srv_answer({300}, 5).bytes, kA) == std::optional<std::uint32_t>{5});
  // RFC 2181: a TTL with the top bit set counts as 0.
  CHECK(min_answer_ttl(srv_answer({0x80000000u, 100}).bytes, kSrv) ==
        std::optional<std::uint32_t>{0});
  // No SRV record: none.
  CHECK_FALSE(min_answer_ttl(srv_answer({}).bytes, kSrv));
}

TEST_CASE("a malformed DNS message gives no TTL and reads nothing past its end", "[dns]") {
  const std::vector<unsigned char> whole = srv_answer({300, 60}).bytes;
  // Every truncation: never a TTL from a record cut short, never a read past the end (ASan).
  for (std::size_t n = 0; n < whole.size(); ++n) {
    const std::vector<unsigned char> cut(whole.begin(), whole.begin() + static_cast<long>(n));
    const auto ttl = min_answer_ttl(cut, kSrv);
    CHECK((!ttl || *ttl == 300));  // at most the first record, when the cut falls after it
  }
  // More answers announced than present.
  std::vector<unsigned char> liar = whole;
  liar[7] = 9;
  CHECK_FALSE(min_answer_ttl(liar, kSrv));
  // A label length running past the end, and a reserved label type (0x40).
  std::vector<unsigned char> long_label = whole;
  long_label[12] = 200;
  CHECK_FALSE(min_answer_ttl(long_label, kSrv));
  std::vector<unsigned char> reserved = whole;
  reserved[12] = 0x45;
  CHECK_FALSE(min_answer_ttl(reserved, kSrv));
}

TEST_CASE("the SRV name RFC 3263 queries, by transport", "[dns]") {
  CHECK(sbc::dns::srv_name("core.test", sbc::Protocol::Udp) == "_sip._udp.core.test");
  CHECK(sbc::dns::srv_name("core.test", sbc::Protocol::Tcp) == "_sip._tcp.core.test");
  CHECK(sbc::dns::srv_name("core.test", sbc::Protocol::Tls) == "_sips._tcp.core.test");
  CHECK(sbc::dns::default_port(sbc::Protocol::Tls) == 5061);
  CHECK(sbc::dns::default_port(sbc::Protocol::Udp) == 5060);
}
