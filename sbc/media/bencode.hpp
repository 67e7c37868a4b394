#pragma once
// Bencode, the encoding of rtpengine's ng control protocol: a writer that appends to a string the
// caller keeps (no allocation once its capacity has grown to the largest message), and a strict
// reader that indexes the input without copying it. What rtpengine answers is input like any
// other: the reader refuses anything that is not exactly bencode, within stated bounds, and says
// why (fuzzed: tests/fuzz/fuzz_bencode.cpp).
//
// Dictionary keys are not required to be sorted: rtpengine writes them in its own order. Duplicate
// keys are accepted (a lookup finds the first); checking them would cost O(n^2) per dictionary.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sbc::media::bencode {

// Appends bencode to `out`. Containers are opened and closed by the caller; a dictionary takes
// key(), then one value, in turn.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  Writer& dict() { return raw('d'); }
  Writer& list() { return raw('l'); }
  Writer& end() { return raw('e'); }
  Writer& string(std::string_view text);
  Writer& integer(std::int64_t value);
  Writer& key(std::string_view name) { return string(name); }
  // Shorthands for a dictionary entry.
  Writer& entry(std::string_view name, std::string_view text) { return key(name).string(text); }
  Writer& entry(std::string_view name, std::int64_t value) { return key(name).integer(value); }

 private:
  Writer& raw(char c) {
    out_.push_back(c);
    return *this;
  }
  std::string& out_;
};

enum class Kind : std::uint8_t { String, Integer, List, Dict };

// Bounds of one document: nesting (a dictionary in a list is depth 2) and nodes in all (each
// string, integer, list and dictionary, keys included).
inline constexpr std::size_t kMaxDepth = 16;
inline constexpr std::size_t kMaxNodes = 4096;

struct DecodeStatus {
  bool ok = false;
  std::string_view reason;  // static text; empty when ok
  std::size_t offset = 0;   // where the reader stopped
};

class Document;

// A node of a decoded document; a default (or not found) Value is invalid and answers empty.
class Value {
 public:
  Value() = default;
  bool valid() const { return doc_ != nullptr; }
  explicit operator bool() const { return valid(); }
  bool is(Kind kind) const;
  // The bytes of a string (empty for anything else).
  std::string_view str() const;
  // The value of an integer (`fallback` for anything else).
  std::int64_t integer(std::int64_t fallback = 0) const;
  // Elements of a list, entries of a dictionary.
  std::size_t size() const;
  // Dictionary lookup; invalid when absent or not a dictionary.
  Value get(std::string_view key) const;
  std::string_view get_string(std::string_view key) const { return get(key).str(); }

  // Walks the children: in a list the elements, in a dictionary keys and values alternately.
  class Iterator {
   public:
    Value operator*() const { return Value(doc_, index_); }
    Iterator& operator++();
    bool operator==(const Iterator& other) const { return index_ == other.index_; }

   private:
    friend class Value;
    Iterator(const Document* doc, std::uint32_t index) : doc_(doc), index_(index) {}
    const Document* doc_;
    std::uint32_t index_;
  };
  Iterator begin() const;
  Iterator end() const;

 private:
  friend class Document;
  Value(const Document* doc, std::uint32_t index) : doc_(doc), index_(index) {}
  const Document* doc_ = nullptr;
  std::uint32_t index_ = 0;
};

// One decoded document: an index of nodes over the input, which must outlive it. Reused across
// decodes: its node array keeps its capacity (kMaxNodes once warm).
class Document {
 public:
  Document() { nodes_.reserve(kMaxNodes); }
  // Reads exactly one value spanning all of `input`.
  DecodeStatus decode(std::string_view input);
  // The top value; invalid unless the last decode succeeded.
  Value root() const { return nodes_.empty() ? Value() : Value(this, 0); }

 private:
  friend class Value;
  struct Node {
    Kind kind = Kind::String;
    std::uint32_t end = 0;    // index of the node after this one's subtree
    std::uint32_t count = 0;  // children (a dictionary's entries count twice)
    std::int64_t integer = 0;
    std::string_view bytes;
  };
  struct Reader;
  std::vector<Node> nodes_;
};

}  // namespace sbc::media::bencode
