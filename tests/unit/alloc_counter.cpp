// The allocation tests' counter: the global operator new replaced, for their executable
// (sbc_alloc_tests) only, with one that counts every allocation.

#include "tests/unit/alloc_counter.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::size_t> g_allocations{0};
}

// Under ASan, blocks that the sanitizer's own operator new handed out before ours took over can
// reach our delete; that mix is intended here, so the check is off for this binary only.
#if defined(__SANITIZE_ADDRESS__)  // GCC
#define SBC_UNDER_ASAN 1
#elif defined(__has_feature)  // clang
#if __has_feature(address_sanitizer)
#define SBC_UNDER_ASAN 1
#endif
#endif
#if defined(SBC_UNDER_ASAN)
extern "C" const char* __asan_default_options() {
  return "alloc_dealloc_mismatch=0";
}
#endif

// The replacement pairs malloc with free on purpose; GCC cannot see that new and delete below
// are that pair and warns where it inlines them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  return ::operator new(size);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

std::size_t allocations_so_far() noexcept {
  return g_allocations.load();
}
