// The DNS answer reader (the TTL of SRV records) on arbitrary bytes: what a DNS server, or
// anyone who can spoof one, sends back.
#include <cstdint>
#include <span>

#include "sbc/dns/dns_answer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const unsigned char> message(data, size);
  for (std::uint16_t type : {std::uint16_t{1}, std::uint16_t{28}, std::uint16_t{33}})
    (void)sbc::dns::min_answer_ttl(message, type);
  return 0;
}
