// URIs and the header-value grammars on their own: shorter inputs reach deeper states faster.
#include <cstdint>
#include <string_view>

#include "sbc/sip/fields.hpp"
#include "sbc/sip/uri.hpp"

using namespace sbc::sip;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Uri uri;
  for (UriContext c : {UriContext::RequestUri, UriContext::HeaderUri}) {
    if (parse_uri(text, uri, c) == UriError::None) {
      (void)uri.param("transport");
      (void)classify_host(uri.host);
    }
  }
  for (NameAddrRules rules : {NameAddrRules::FromTo, NameAddrRules::Contact,
                              NameAddrRules::RouteLike, NameAddrRules::Identity}) {
    Scanner in(text);
    NameAddr na;
    if (parse_name_addr(in, na, rules)) (void)na.param("tag");
  }
  Scanner in(text);
  Via via;
  if (parse_via(in, via)) (void)via.param("branch");
  AuthValue auth;
  if (parse_credentials(text, auth)) (void)auth.param("response");
  (void)parse_challenge(text, auth);
  CSeq cseq;
  (void)parse_cseq(text, cseq);
  (void)valid_user_agent(text);
  (void)valid_content_type(text);
  (void)valid_sip_date(text);
  return 0;
}
