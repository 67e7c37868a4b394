#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "sbc/transport/connection_limiter.hpp"

using sbc::transport::ConnectionLimiter;
using sbc::transport::ConnectionTicket;

TEST_CASE("connections are capped per source and in total, and slots come back", "[limits]") {
  ConnectionLimiter limiter(3, 2);
  CHECK(limiter.try_acquire("192.0.2.1"));
  CHECK(limiter.try_acquire("192.0.2.1"));
  CHECK_FALSE(limiter.try_acquire("192.0.2.1"));  // per source
  CHECK(limiter.try_acquire("192.0.2.2"));
  CHECK_FALSE(limiter.try_acquire("192.0.2.3"));  // in total
  CHECK(limiter.total() == 3);
  limiter.release("192.0.2.1");
  CHECK(limiter.try_acquire("192.0.2.3"));
  // A ticket gives its slot back when the connection holding it goes away.
  limiter.release("192.0.2.3");
  {
    REQUIRE(limiter.try_acquire("198.51.100.1"));
    ConnectionTicket ticket(&limiter, "198.51.100.1");
    ConnectionTicket moved(std::move(ticket));
    CHECK(limiter.total() == 3);
  }
  CHECK(limiter.total() == 2);
  // Releasing a source that holds nothing changes nothing.
  limiter.release("203.0.113.9");
  CHECK(limiter.total() == 2);
}

namespace {
sbc::transport::ConnectionLimiterSettings network_settings() {
  sbc::transport::ConnectionLimiterSettings s;
  s.max_total = 20;
  s.max_per_source = 3;
  s.max_per_ipv6_48 = 5;
  s.max_per_ipv4_24 = 4;
  s.reserved = 4;
  s.ipv6_prefix = 64;
  s.trusted.push_back(*sbc::parse_cidr("198.51.100.0/24"));
  return s;
}
}  // namespace

TEST_CASE("an IPv6 /64 is one source, and a /48 one network", "[limits]") {
  ConnectionLimiter limiter(network_settings());
  // Addresses rotating inside one /64 count as one source.
  CHECK(limiter.try_acquire("2001:db8:1:1::1"));
  CHECK(limiter.try_acquire("2001:db8:1:1::2"));
  CHECK(limiter.try_acquire("2001:db8:1:1:ffff::3"));
  CHECK_FALSE(limiter.try_acquire("2001:db8:1:1::4"));
  // Other /64s of the same /48: together at most 5.
  CHECK(limiter.try_acquire("2001:db8:1:2::1"));
  CHECK(limiter.try_acquire("2001:db8:1:3::1"));
  ConnectionLimiter::Keys keys;
  CHECK(limiter.try_acquire("2001:db8:1:4::1", keys) == ConnectionLimiter::Refusal::Network);
  // Another /48 is another network.
  CHECK(limiter.try_acquire("2001:db8:2:1::1"));
  // Releasing gives the network its slot back.
  limiter.release("2001:db8:1:2::1");
  CHECK(limiter.try_acquire("2001:db8:1:4::1"));
  CHECK(limiter.total() == 6);
}

TEST_CASE("an IPv4 /24 is one network", "[limits]") {
  ConnectionLimiter limiter(network_settings());
  for (int i = 1; i <= 4; ++i) CHECK(limiter.try_acquire("192.0.2." + std::to_string(i)));
  ConnectionLimiter::Keys keys;
  CHECK(limiter.try_acquire("192.0.2.99", keys) == ConnectionLimiter::Refusal::Network);
  CHECK(limiter.try_acquire("192.0.3.1"));
  CHECK(limiter.try_acquire("::ffff:192.0.2.5", keys) == ConnectionLimiter::Refusal::Network);
}

TEST_CASE("the reserve is kept for trusted and authenticated sources", "[limits]") {
  ConnectionLimiter limiter(network_settings());
  const auto t0 = ConnectionLimiter::Clock::now();
  ConnectionLimiter::Keys keys, known;
  // A source that authenticated earlier (and keeps no connection now).
  REQUIRE_FALSE(limiter.try_acquire("203.0.113.7", known, t0));
  limiter.authenticated(known.source, t0);
  limiter.release(known);
  // 16 of 20 slots taken by sources of many networks: only the reserve of 4 is left.
  for (int n = 0; n < 8; ++n)
    for (int i = 1; i <= 2; ++i)
      REQUIRE_FALSE(
          limiter.try_acquire("10.0." + std::to_string(n) + "." + std::to_string(i), keys, t0));
  CHECK(limiter.total() == 16);
  CHECK(limiter.try_acquire("10.9.9.9", keys, t0) == ConnectionLimiter::Refusal::Reserved);
  CHECK_FALSE(limiter.try_acquire("198.51.100.1", keys, t0));  // trusted
  CHECK_FALSE(limiter.try_acquire("203.0.113.7", keys, t0));   // authenticated recently
  // Trusted peers are exempt from the per-source cap too; nobody passes the total.
  CHECK_FALSE(limiter.try_acquire("198.51.100.1", keys, t0));
  CHECK_FALSE(limiter.try_acquire("198.51.100.1", keys, t0));
  CHECK(limiter.try_acquire("198.51.100.1", keys, t0) == ConnectionLimiter::Refusal::Total);
  // Known only for a while.
  limiter.release("198.51.100.1");
  CHECK(limiter.try_acquire("203.0.113.7", keys, t0 + std::chrono::hours(2)) ==
        ConnectionLimiter::Refusal::Reserved);
}
