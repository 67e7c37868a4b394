#include "sbc/sip/editor.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "sbc/sip/scanner.hpp"

namespace sbc::sip {
namespace {
constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kColonSpace = ": ";
}  // namespace

bool MessageEditor::add(std::uint32_t begin, std::uint32_t end, std::string_view a,
                        std::string_view b, std::string_view c, std::string_view d) noexcept {
  if (edit_count_ == kMaxEdits) return false;
  edits_[edit_count_++] = Edit{begin, end, {a, b, c, d}};
  return true;
}

bool MessageEditor::insert_line_before(HeaderId id, std::string_view name,
                                       std::string_view value) noexcept {
  const HeaderField* first = message_.find(id);
  // With no such header yet, the new one goes right after the last header line.
  const std::uint32_t at =
      first != nullptr ? offset_of(first->line.data()) : offset_of(message_.headers_end().data());
  return add(at, at, name, kColonSpace, value, kCrlf);
}

template <class Value>
bool MessageEditor::remove_first_value(HeaderId id) noexcept {
  auto cursor = Message::ValueCursor<Value>(message_, id);
  Value first;
  if (!cursor.next(first)) return false;
  const HeaderField* field = cursor.field();
  Value second;
  if (cursor.next(second) && cursor.field() == field) {
    // Several values on the line: cut the first value, its comma and the white space after it.
    return add(offset_of(first.text.data()), offset_of(second.text.data()), {});
  }
  return add(offset_of(field->line.data()), offset_of(field->line.data() + field->line.size()), {});
}

bool MessageEditor::prepend_via(std::string_view value) noexcept {
  return insert_line_before(HeaderId::Via, "Via", value);
}
bool MessageEditor::remove_top_via() noexcept {
  // The parse already found the top Via (the first value of the first Via line): only where the
  // next value on its line starts, if there is one, remains to find (no Via is parsed again).
  const Via& top = message_.top_via();
  const HeaderField* field = message_.find(HeaderId::Via);
  if (field == nullptr || top.text.empty() || top.text.data() < field->value.data() ||
      top.text.data() + top.text.size() > field->value.data() + field->value.size())
    return remove_first_value<Via>(HeaderId::Via);
  const char* const after = top.text.data() + top.text.size();
  Scanner rest(std::string_view(
      after, static_cast<std::size_t>(field->value.data() + field->value.size() - after)));
  if (!rest.at_end() && rest.separator(','))
    return add(offset_of(top.text.data()), offset_of(rest.position()), {});
  return add(offset_of(field->line.data()), offset_of(field->line.data() + field->line.size()), {});
}
bool MessageEditor::remove_top_route() noexcept {
  return remove_first_value<NameAddr>(HeaderId::Route);
}
bool MessageEditor::add_record_route(std::string_view value) noexcept {
  return insert_line_before(HeaderId::RecordRoute, "Record-Route", value);
}
bool MessageEditor::add_path(std::string_view value) noexcept {
  return insert_line_before(HeaderId::Path, "Path", value);
}

bool MessageEditor::replace(std::string_view part, std::string_view value) noexcept {
  const std::string_view all = message_.bytes();
  if (part.data() < all.data() || part.data() + part.size() > all.data() + all.size()) return false;
  return add(offset_of(part.data()), offset_of(part.data() + part.size()), value);
}

bool MessageEditor::set_request_uri(std::string_view uri) noexcept {
  const std::string_view old = message_.request_uri().text;
  if (!message_.is_request() || old.empty()) return false;
  return add(offset_of(old.data()), offset_of(old.data() + old.size()), uri);
}

bool MessageEditor::rewrite_contact_uri(std::string_view uri) noexcept {
  auto cursor = message_.name_addrs(HeaderId::Contact);
  NameAddr contact;
  if (!cursor.next(contact)) return false;
  return rewrite_uri(contact, uri);
}

bool MessageEditor::rewrite_uri(const NameAddr& value, std::string_view uri) noexcept {
  const std::string_view old = value.uri.text;
  if (value.bracketed) return add(offset_of(old.data()), offset_of(old.data() + old.size()), uri);
  // An addr-spec gains brackets, so the new URI's own parameters stay URI parameters.
  return add(offset_of(old.data()), offset_of(old.data() + old.size()), "<", uri, ">");
}

bool MessageEditor::decrement_max_forwards(int ceiling) noexcept {
  const HeaderField* mf = message_.find(HeaderId::MaxForwards);
  if (mf == nullptr && !message_.is_request()) return false;
  const int hops =
      mf == nullptr ? std::min(70, ceiling) + 1 : std::min(message_.max_forwards(), ceiling);
  if (hops <= 0) return false;
  auto [ptr, ec] = std::to_chars(max_forwards_text_.data(),
                                 max_forwards_text_.data() + max_forwards_text_.size(), hops - 1);
  if (ec != std::errc{}) return false;
  const std::string_view text(max_forwards_text_.data(),
                              static_cast<std::size_t>(ptr - max_forwards_text_.data()));
  if (mf == nullptr) return add_header("Max-Forwards", text);
  return add(offset_of(mf->value.data()), offset_of(mf->value.data() + mf->value.size()), text);
}

bool MessageEditor::add_header(std::string_view name, std::string_view value) noexcept {
  const std::uint32_t at = offset_of(message_.headers_end().data());
  return add(at, at, name, kColonSpace, value, kCrlf);
}

bool MessageEditor::remove_line(const HeaderField& h, bool extend) noexcept {
  const std::uint32_t begin = offset_of(h.line.data());
  const std::uint32_t end = offset_of(h.line.data() + h.line.size());
  // A line right after the one this removal took out last (a run of headers of one name)
  // extends that edit: a run of any length costs one. Only within one removal, so that a line
  // inserted before another header's first line never falls inside a removed range.
  if (extend && edit_count_ != 0 && edits_[edit_count_ - 1].end == begin) {
    edits_[edit_count_ - 1].end = end;
    return true;
  }
  return add(begin, end, {});
}

bool MessageEditor::remove_headers(HeaderId id) noexcept {
  bool any = false;
  for (const HeaderField& h : message_.headers()) {
    if (h.id != id) continue;
    if (!remove_line(h, any)) return false;
    any = true;
  }
  return any;
}

bool MessageEditor::remove_headers(std::string_view name) noexcept {
  const HeaderId id = lookup_header(name);
  if (id != HeaderId::Other) return remove_headers(id);
  bool any = false;
  for (const HeaderField& h : message_.headers()) {
    if (h.id != HeaderId::Other || !iequals(h.name, name)) continue;
    if (!remove_line(h, any)) return false;
    any = true;
  }
  return any;
}

bool MessageEditor::strip_headers(HeaderId id) noexcept {
  return message_.count(id) == 0 || remove_headers(id);
}

bool MessageEditor::strip_headers(std::string_view name) noexcept {
  const HeaderId id = lookup_header(name);
  if (id != HeaderId::Other) return strip_headers(id);
  for (const HeaderField& h : message_.headers())
    if (h.id == HeaderId::Other && iequals(h.name, name)) return remove_headers(name);
  return true;
}

bool MessageEditor::set_body(std::string_view body) noexcept {
  body_replaced_ = true;
  new_body_ = body;
  return true;
}

std::size_t MessageEditor::plan(std::array<Edit, kMaxEdits + 1>& out) const noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < edit_count_; ++i) out[n++] = edits_[i];
  const std::string_view body = body_replaced_ ? new_body_ : message_.body();
  const HeaderField* cl = message_.find(HeaderId::ContentLength);
  const bool need_length = body_replaced_ || cl == nullptr;
  if (need_length) {
    auto [ptr, ec] =
        std::to_chars(content_length_text_.data(),
                      content_length_text_.data() + content_length_text_.size(), body.size());
    const std::string_view text(content_length_text_.data(),
                                static_cast<std::size_t>(ptr - content_length_text_.data()));
    if (ec != std::errc{}) return 0;
    if (cl != nullptr) {
      out[n++] = Edit{offset_of(cl->value.data()),
                      offset_of(cl->value.data() + cl->value.size()),
                      {text, {}, {}, {}}};
    } else {
      const std::uint32_t at = offset_of(message_.headers_end().data());
      out[n++] = Edit{at, at, {"Content-Length", kColonSpace, text, kCrlf}};
    }
  }
  // Insertion sort: a handful of edits, no allocation (std::stable_sort may allocate), and
  // stable, so insertions at one offset keep the order they were made in. A zero-width
  // insertion sorts before a removal that starts at the same offset.
  auto before = [](const Edit& a, const Edit& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    return (a.end == a.begin) && (b.end != b.begin);
  };
  for (std::size_t i = 1; i < n; ++i) {
    const Edit moving = out[i];
    std::size_t j = i;
    for (; j > 0 && before(moving, out[j - 1]); --j) out[j] = out[j - 1];
    out[j] = moving;
  }
  for (std::size_t i = 1; i < n; ++i)
    if (out[i].begin < out[i - 1].end) return static_cast<std::size_t>(-1);
  return n;
}

std::size_t MessageEditor::planned_size(const std::array<Edit, kMaxEdits + 1>& edits,
                                        std::size_t n) const noexcept {
  const std::size_t head_size = message_.bytes().size() - message_.body().size();
  std::size_t total = head_size + (body_replaced_ ? new_body_.size() : message_.body().size());
  for (std::size_t i = 0; i < n; ++i) {
    total -= edits[i].end - edits[i].begin;
    for (std::string_view piece : edits[i].pieces) total += piece.size();
  }
  return total;
}

std::size_t MessageEditor::size() const noexcept {
  std::array<Edit, kMaxEdits + 1> plan_edits;
  const std::size_t n = plan(plan_edits);
  if (n == static_cast<std::size_t>(-1)) return 0;
  return planned_size(plan_edits, n);
}

std::size_t MessageEditor::write_planned(const std::array<Edit, kMaxEdits + 1>& edits,
                                         std::size_t n, std::span<char> out) const noexcept {
  const std::string_view src = message_.bytes();
  const std::size_t head_size = src.size() - message_.body().size();
  char* w = out.data();
  char* const end = out.data() + out.size();
  auto put = [&w, end](std::string_view s) {
    if (static_cast<std::size_t>(end - w) < s.size()) return false;
    if (!s.empty()) std::memcpy(w, s.data(), s.size());
    w += s.size();
    return true;
  };
  std::size_t copied = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const Edit& e = edits[i];
    if (!put(src.substr(copied, e.begin - copied))) return 0;
    for (std::string_view piece : e.pieces)
      if (!put(piece)) return 0;
    copied = e.end;
  }
  if (!put(src.substr(copied, head_size - std::min(copied, head_size)))) return 0;
  if (!put(body_replaced_ ? new_body_ : message_.body())) return 0;
  return static_cast<std::size_t>(w - out.data());
}

std::size_t MessageEditor::write(std::span<char> out) const noexcept {
  std::array<Edit, kMaxEdits + 1> plan_edits;
  const std::size_t n = plan(plan_edits);
  if (n == static_cast<std::size_t>(-1)) return 0;
  return write_planned(plan_edits, n, out);
}

bool MessageEditor::write(std::string& out) const {
  out.resize(size());
  if (out.empty()) return false;
  const std::size_t written = write(std::span<char>(out.data(), out.size()));
  out.resize(written);
  return written != 0;
}

bool MessageEditor::write(std::string& out, std::size_t max_size) const {
  std::array<Edit, kMaxEdits + 1> plan_edits;
  const std::size_t n = plan(plan_edits);
  if (n == static_cast<std::size_t>(-1)) return false;
  const std::size_t size = planned_size(plan_edits, n);
  if (size == 0 || size > max_size) return false;
  out.resize(size);
  return write_planned(plan_edits, n, std::span<char>(out.data(), out.size())) == size;
}

}  // namespace sbc::sip
