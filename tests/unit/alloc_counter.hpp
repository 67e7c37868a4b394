#pragma once
// Allocations counted since the program started (tests/unit/alloc_counter.cpp replaces the
// global operator new of the executable it is linked into: sbc_alloc_tests).

#include <cstddef>

std::size_t allocations_so_far() noexcept;
