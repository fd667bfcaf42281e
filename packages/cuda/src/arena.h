// The cuda engine's memory arena as offsets: one range reserved at run start (sized from the plan's memory
// model) and sub-allocated best-fit, freed blocks merged with free neighbours, so a run's buffers of many
// sizes reuse one reservation instead of growing the device's use. Pure C++ (no CUDA): device.cc puts it over
// one cudaMalloc; the host test add-on exposes it to the tests.
#pragma once
#include <algorithm>
#include <cstddef>
#include <map>
#include <set>
#include <utility>

namespace sftc {

class Arena {
 public:
  static constexpr size_t kAlign = 512;
  static constexpr size_t kNone = ~size_t(0);

  explicit Arena(size_t capacity) : capacity_(capacity & ~(kAlign - 1)) {
    if (capacity_) addFree(0, capacity_);
  }

  static size_t rounded(size_t bytes) { return (std::max<size_t>(bytes, 1) + kAlign - 1) & ~(kAlign - 1); }

  // The offset of a block of `bytes` (rounded up to kAlign), or kNone when no free block is large enough.
  size_t alloc(size_t bytes) {
    const size_t size = rounded(bytes);
    // Best fit: the smallest free block that holds it, the lowest offset among equals.
    auto it = bySize_.lower_bound({size, 0});
    if (it == bySize_.end()) return kNone;
    const auto [have, off] = *it;
    removeFree(off, have);
    if (have > size) addFree(off + size, have - size);
    used_.emplace(off, size);
    inUse_ += size;
    peak_ = std::max(peak_, inUse_);
    return off;
  }

  // Returns the block at `offset` to the free ranges (false: no block starts there).
  bool free(size_t offset) {
    auto u = used_.find(offset);
    if (u == used_.end()) return false;
    size_t off = offset, size = u->second;
    used_.erase(u);
    inUse_ -= size;
    auto next = byOffset_.find(off + size);
    if (next != byOffset_.end()) {
      const size_t n = next->second;
      removeFree(off + size, n);
      size += n;
    }
    auto prev = byOffset_.lower_bound(off);
    if (prev != byOffset_.begin()) {
      --prev;
      if (prev->first + prev->second == off) {
        const size_t p = prev->first, n = prev->second;
        removeFree(p, n);
        off = p;
        size += n;
      }
    }
    addFree(off, size);
    return true;
  }

  size_t capacity() const { return capacity_; }
  size_t inUse() const { return inUse_; }
  size_t peak() const { return peak_; }
  size_t live() const { return used_.size(); }
  size_t freeBlocks() const { return byOffset_.size(); }
  size_t largestFree() const { return bySize_.empty() ? 0 : bySize_.rbegin()->first; }

 private:
  void addFree(size_t off, size_t size) {
    byOffset_.emplace(off, size);
    bySize_.emplace(size, off);
  }
  void removeFree(size_t off, size_t size) {
    byOffset_.erase(off);
    bySize_.erase({size, off});
  }

  size_t capacity_;
  size_t inUse_ = 0, peak_ = 0;
  std::map<size_t, size_t> byOffset_;         // free ranges: offset -> size
  std::set<std::pair<size_t, size_t>> bySize_;  // the same ranges as (size, offset)
  std::map<size_t, size_t> used_;             // live blocks: offset -> size
};

}  // namespace sftc
