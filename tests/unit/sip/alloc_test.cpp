// Proves the parser's zero-allocation promise: the global operator new is replaced with one that
// counts (alloc_counter.cpp), and parsing (with full validation) must not call it.

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "../corpus.hpp"
#include "sbc/sip/editor.hpp"
#include "sbc/sip/message.hpp"
#include "tests/support/sip_samples.hpp"
#include "tests/unit/alloc_counter.hpp"

using namespace sbc::sip;

namespace {
std::size_t allocations_during(auto&& work) {
  const std::size_t before = allocations_so_far();
  work();
  return allocations_so_far() - before;
}
}  // namespace

TEST_CASE("the allocation counter works", "[alloc]") {
  const std::size_t n = allocations_during([] {
    auto p = std::make_unique<std::vector<int>>(100);
    REQUIRE(p->size() == 100);
  });
  CHECK(n == 2);
}

TEST_CASE("parsing and validating a typical INVITE makes no heap allocation", "[alloc]") {
  auto message = std::make_unique<Message>();
  const std::string bytes(sbc::test::kInvite);
  Verdict verdict;
  const std::size_t n = allocations_during([&] {
    verdict = message->parse(bytes, Framing::Datagram, Limits{});
    (void)message->check_proxy_rules({});
    Via via;
    auto vias = message->vias();
    while (vias.next(via)) {
    }
  });
  REQUIRE(verdict.is_valid());
  CHECK(n == 0);
}

TEST_CASE("no corpus message, valid or not, makes the parser allocate", "[alloc]") {
  auto message = std::make_unique<Message>();
  for (const std::string set : {"rfc4475", "rfc5118"}) {
    for (const auto& row : sbc::test::read_expected(set)) {
      const std::string bytes =
          sbc::test::read_binary(sbc::test::corpus_dir() + "/" + set + "/" + row.name + ".dat");
      INFO(row.name);
      const std::size_t n = allocations_during([&] {
        if (message->parse(bytes, Framing::Datagram, Limits{}).is_valid())
          (void)message->check_proxy_rules({});
      });
      CHECK(n == 0);
    }
  }
}

TEST_CASE("editing into a caller's buffer makes no heap allocation", "[alloc]") {
  auto message = std::make_unique<Message>();
  const std::string bytes(sbc::test::kInvite);
  REQUIRE(message->parse(bytes, Framing::Datagram, Limits{}).is_valid());
  std::array<char, 2048> out{};
  std::size_t written = 0;
  const std::size_t n = allocations_during([&] {
    MessageEditor e(*message);
    e.prepend_via("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx");
    e.add_record_route("<sip:10.0.0.1;lr>");
    e.decrement_max_forwards();
    written = e.write(out);
  });
  CHECK(written > bytes.size());
  CHECK(n == 0);
}
