#include <catch2/catch.hpp>

#include <optional>

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
