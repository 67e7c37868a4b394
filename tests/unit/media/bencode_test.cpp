#include "sbc/media/bencode.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <string_view>

using sbc::media::bencode::Document;
using sbc::media::bencode::Kind;
using sbc::media::bencode::Writer;

namespace {

std::string_view refusal(std::string_view input) {
  static Document doc;
  const auto status = doc.decode(input);
  REQUIRE_FALSE(status.ok);
  CHECK_FALSE(doc.root().valid());
  return status.reason;
}

}  // namespace

TEST_CASE("bencode writes what rtpengine reads", "[media][bencode]") {
  std::string out;
  Writer writer(out);
  writer.dict().entry("command", "offer").entry("call-id", "a b").key("direction");
  writer.list().string("outside").string("inside").end();
  writer.entry("n", -42).entry("zero", 0).entry("empty", "").end();
  CHECK(out ==
        "d7:command5:offer7:call-id3:a b9:directionl7:outside6:insidee1:ni-42e4:zeroi0e5:empty0:e");
}

TEST_CASE("bencode round trip through the reader", "[media][bencode]") {
  std::string out;
  Writer writer(out);
  const std::string sdp = "v=0\r\nc=IN IP4 127.0.0.3\r\nm=audio 30000 RTP/AVP 0\r\n";
  writer.dict().entry("result", "ok").entry("sdp", sdp).key("totals").dict().key("RTP").dict();
  writer.entry("packets", 10).entry("bytes", INT64_MAX).end().end();
  writer.key("calls").list().string("c1").string("c2").integer(INT64_MIN).end().end();

  Document doc;
  const auto status = doc.decode(out);
  REQUIRE(status.ok);
  CHECK(status.offset == out.size());
  const auto root = doc.root();
  REQUIRE(root.is(Kind::Dict));
  CHECK(root.size() == 4);
  CHECK(root.get_string("result") == "ok");
  CHECK(root.get_string("sdp") == sdp);
  // Views into the input, not copies.
  CHECK(root.get_string("sdp").data() >= out.data());
  CHECK(root.get_string("sdp").data() < out.data() + out.size());
  CHECK(root.get("totals").get("RTP").get("packets").integer() == 10);
  CHECK(root.get("totals").get("RTP").get("bytes").integer() == INT64_MAX);
  CHECK_FALSE(root.get("missing").valid());
  CHECK_FALSE(root.get("result").get("x").valid());  // lookup in a string: nothing
  CHECK(root.get("result").integer(-1) == -1);

  const auto calls = root.get("calls");
  REQUIRE(calls.is(Kind::List));
  CHECK(calls.size() == 3);
  std::string seen;
  for (const auto element : calls)
    seen += element.is(Kind::String) ? std::string(element.str()) : "#";
  CHECK(seen == "c1c2#");
  int values = 0;
  for (const auto element : calls)
    if (element.is(Kind::Integer)) values += element.integer() == INT64_MIN ? 1 : 0;
  CHECK(values == 1);
}

TEST_CASE("bencode walks dictionaries as keys and values, unsorted as rtpengine writes them",
          "[media][bencode]") {
  Document doc;
  const std::string_view input = "d7:createdi5e4:SSRCde4:tagsd2:ftd3:tag2:ftee6:result2:oke";
  REQUIRE(doc.decode(input).ok);
  const auto root = doc.root();
  CHECK(root.size() == 4);
  CHECK(root.get("SSRC").is(Kind::Dict));
  CHECK(root.get("SSRC").size() == 0);
  CHECK(root.get("tags").get("ft").get_string("tag") == "ft");
  std::string keys;
  bool key = true;
  for (const auto child : root) {
    if (key) keys += std::string(child.str()) + ",";
    key = !key;
  }
  CHECK(keys == "created,SSRC,tags,result,");
}

TEST_CASE("bencode refuses what is not exactly bencode, with a reason", "[media][bencode]") {
  CHECK(refusal("") == "value expected");
  CHECK(refusal("x") == "not a bencode value");
  CHECK(refusal("i01e") == "leading zero");
  CHECK(refusal("i-0e") == "negative zero");
  CHECK(refusal("ie") == "digit expected");
  CHECK(refusal("i-e") == "digit expected");
  CHECK(refusal("i+1e") == "digit expected");
  CHECK(refusal("i12") == "'e' expected");
  CHECK(refusal("i9223372036854775808e") == "integer out of range");
  CHECK(refusal("i99999999999999999999e") == "number too long");
  CHECK(refusal("05:hello") == "leading zero");
  CHECK(refusal("5:hell") == "string longer than the input");
  CHECK(refusal("18446744073709551615:x") == "number too long");
  CHECK(refusal("9999999999:x") == "string longer than the input");
  CHECK(refusal("5hello") == "':' expected");
  CHECK(refusal("l1:a") == "unterminated container");
  CHECK(refusal("di1e1:ae") == "dictionary key must be a string");
  CHECK(refusal("d1:ae") == "dictionary key without a value");
  CHECK(refusal("1:a1:b") == "bytes after the value");
  CHECK(refusal("de ") == "bytes after the value");
}

TEST_CASE("bencode accepts its extremes and refuses beyond its bounds", "[media][bencode]") {
  Document doc;
  CHECK(doc.decode("i-9223372036854775808e").ok);
  CHECK(doc.root().integer() == INT64_MIN);
  CHECK(doc.decode("0:").ok);
  CHECK(doc.root().str().empty());

  // Depth: 16 nested lists are fine, 17 are not.
  const std::string deep16 = std::string(16, 'l') + std::string(16, 'e');
  const std::string deep17 = std::string(17, 'l') + std::string(17, 'e');
  CHECK(doc.decode(deep16).ok);
  CHECK(refusal(deep17) == "nested too deep");

  // Elements: the list and 4095 integers make 4096 nodes; one more is refused.
  std::string many = "l";
  for (int i = 0; i < 4095; ++i) many += "i1e";
  CHECK(doc.decode(many + "e").ok);
  CHECK(doc.root().size() == 4095);
  CHECK(refusal(many + "i1ee") == "too many elements");
}

TEST_CASE("bencode reader is reusable after a refusal", "[media][bencode]") {
  Document doc;
  REQUIRE_FALSE(doc.decode("d3:key").ok);
  CHECK_FALSE(doc.root().valid());
  REQUIRE(doc.decode("d3:key5:valuee").ok);
  CHECK(doc.root().get_string("key") == "value");
}

TEST_CASE("bencode writer does not allocate once its buffer is warm", "[media][bencode]") {
  std::string out;
  out.reserve(256);
  const auto* buffer = out.data();
  for (int round = 0; round < 100; ++round) {
    out.clear();
    Writer(out).dict().entry("command", "ping").entry("n", round).end();
  }
  CHECK(out.data() == buffer);
  CHECK(out == "d7:command4:ping1:ni99ee");
}
