#include "sbc/media/bencode.hpp"

#include <charconv>
#include <limits>

namespace sbc::media::bencode {

Writer& Writer::string(std::string_view text) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, text.size());
  (void)ec;  // 24 digits hold any size_t
  out_.append(digits, end);
  out_.push_back(':');
  out_.append(text);
  return *this;
}

Writer& Writer::integer(std::int64_t value) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  (void)ec;
  out_.push_back('i');
  out_.append(digits, end);
  out_.push_back('e');
  return *this;
}

// Recursive descent, bounded by kMaxDepth; every node is appended before its children so that a
// subtree is a contiguous range [index, end).
struct Document::Reader {
  std::vector<Node>& nodes;
  std::string_view in;
  std::size_t pos = 0;
  std::string_view error;

  bool fail(std::string_view reason) {
    error = reason;
    return false;
  }
  bool at_end() const { return pos >= in.size(); }

  // Decimal digits up to `stop`: no sign, no leading zero unless the number is 0. At most 19
  // digits, so the value fits before any range check.
  bool digits(char stop, std::uint64_t& value) {
    const std::size_t start = pos;
    value = 0;
    while (!at_end() && in[pos] >= '0' && in[pos] <= '9') {
      if (pos - start >= 19) return fail("number too long");
      value = value * 10 + static_cast<std::uint64_t>(in[pos] - '0');
      ++pos;
    }
    if (pos == start) return fail("digit expected");
    if (in[start] == '0' && pos - start > 1) return fail("leading zero");
    if (at_end() || in[pos] != stop) return fail(stop == ':' ? "':' expected" : "'e' expected");
    ++pos;
    return true;
  }

  bool add(Kind kind) {
    if (nodes.size() >= kMaxNodes) return fail("too many elements");
    // A leaf's subtree is itself; a container's end is set when it closes.
    nodes.push_back(Node{kind, static_cast<std::uint32_t>(nodes.size() + 1), 0, 0, {}});
    return true;
  }

  bool string() {
    std::uint64_t length = 0;
    if (!digits(':', length)) return false;
    if (length > in.size() - pos) return fail("string longer than the input");
    if (!add(Kind::String)) return false;
    nodes.back().bytes = in.substr(pos, static_cast<std::size_t>(length));
    pos += static_cast<std::size_t>(length);
    return true;
  }

  bool integer() {
    ++pos;  // 'i'
    const bool negative = !at_end() && in[pos] == '-';
    if (negative) ++pos;
    std::uint64_t magnitude = 0;
    if (!digits('e', magnitude)) return false;
    if (negative && magnitude == 0) return fail("negative zero");
    const auto limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (magnitude > limit + (negative ? 1 : 0)) return fail("integer out of range");
    if (!add(Kind::Integer)) return false;
    nodes.back().integer =
        negative ? static_cast<std::int64_t>(~magnitude + 1) : static_cast<std::int64_t>(magnitude);
    return true;
  }

  bool container(Kind kind, std::size_t depth) {
    if (depth >= kMaxDepth) return fail("nested too deep");
    ++pos;  // 'l' or 'd'
    if (!add(kind)) return false;
    const std::size_t self = nodes.size() - 1;
    std::uint32_t count = 0;
    for (;;) {
      if (at_end()) return fail("unterminated container");
      if (in[pos] == 'e') break;
      if (kind == Kind::Dict && count % 2 == 0) {
        if (in[pos] < '0' || in[pos] > '9') return fail("dictionary key must be a string");
        if (!string()) return false;
      } else if (!value(depth + 1)) {
        return false;
      }
      ++count;
    }
    if (kind == Kind::Dict && count % 2 != 0) return fail("dictionary key without a value");
    ++pos;  // 'e'
    nodes[self].count = count;
    nodes[self].end = static_cast<std::uint32_t>(nodes.size());
    return true;
  }

  bool value(std::size_t depth) {
    if (at_end()) return fail("value expected");
    switch (in[pos]) {
      case 'i':
        return integer();
      case 'l':
        return container(Kind::List, depth);
      case 'd':
        return container(Kind::Dict, depth);
      default:
        if (in[pos] >= '0' && in[pos] <= '9') return string();
        return fail("not a bencode value");
    }
  }
};

DecodeStatus Document::decode(std::string_view input) {
  nodes_.clear();
  Reader reader{nodes_, input, 0, {}};
  bool ok = reader.value(0);
  if (ok && !reader.at_end()) ok = reader.fail("bytes after the value");
  if (!ok) {
    nodes_.clear();
    return {false, reader.error, reader.pos};
  }
  return {true, {}, reader.pos};
}

bool Value::is(Kind kind) const {
  return valid() && doc_->nodes_[index_].kind == kind;
}

std::string_view Value::str() const {
  return is(Kind::String) ? doc_->nodes_[index_].bytes : std::string_view();
}

std::int64_t Value::integer(std::int64_t fallback) const {
  return is(Kind::Integer) ? doc_->nodes_[index_].integer : fallback;
}

std::size_t Value::size() const {
  if (is(Kind::List)) return doc_->nodes_[index_].count;
  if (is(Kind::Dict)) return doc_->nodes_[index_].count / 2;
  return 0;
}

Value Value::get(std::string_view key) const {
  if (!is(Kind::Dict)) return {};
  for (auto it = begin(); it != end(); ++it) {
    const Value name = *it;
    ++it;
    if (name.str() == key) return *it;
  }
  return {};
}

Value::Iterator& Value::Iterator::operator++() {
  index_ = doc_->nodes_[index_].end;
  return *this;
}

Value::Iterator Value::begin() const {
  if (!is(Kind::List) && !is(Kind::Dict)) return end();
  return Iterator(doc_, index_ + 1);
}

Value::Iterator Value::end() const {
  return Iterator(doc_, valid() ? doc_->nodes_[index_].end : 0);
}

}  // namespace sbc::media::bencode
