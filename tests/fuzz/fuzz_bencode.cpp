// What rtpengine answers (sbc/media/bencode) on arbitrary bytes: an ng answer is input like any
// other. Whatever decodes must walk without going out of bounds, and write back to bytes that
// decode to the same tree.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sbc/media/bencode.hpp"

namespace {

using sbc::media::bencode::Kind;
using sbc::media::bencode::Value;
using sbc::media::bencode::Writer;

void rewrite(const Value& value, Writer& writer) {
  if (value.is(Kind::String)) {
    writer.string(value.str());
  } else if (value.is(Kind::Integer)) {
    writer.integer(value.integer());
  } else {
    value.is(Kind::List) ? writer.list() : writer.dict();
    for (const auto child : value) rewrite(child, writer);
    writer.end();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static sbc::media::bencode::Document doc;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (!doc.decode(input).ok) return 0;
  (void)doc.root().get("result").str();
  (void)doc.root().get("tags").get("x").size();
  // The reader is strict, so its input is the one encoding of its tree.
  std::string again;
  Writer writer(again);
  rewrite(doc.root(), writer);
  if (again != input) std::abort();
  return 0;
}
