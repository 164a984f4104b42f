// Device memory of the emulated GPU (memory.h): one mapping per allocation with guard pages.
#include "memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <sstream>

#include "config.h"

namespace dsa::emu::memory {

namespace {

// Live allocations by data address. std::map: find() is an upper_bound; the fault handler reads
// it without allocating.
std::map<uintptr_t, Allocation>& registry() {
  static std::map<uintptr_t, Allocation> allocations;
  return allocations;
}
uint64_t g_next_serial = 1;
size_t g_live_bytes = 0;

// Guard pages the fault handler opened during the current launch. Fixed storage: the handler may
// not allocate; past kMaxOpenGuards it opens more without listing them, and close_guards then
// closes the guard pages of every live allocation.
constexpr int kMaxOpenGuards = 64;
void* g_open_guards[kMaxOpenGuards];
int g_open_guard_count = 0;
bool g_open_guards_overflowed = false;

// Allocations whose slack a launch damaged: repaired by repair_damaged_slacks.
std::vector<const Allocation*> g_damaged;

size_t round_up(size_t bytes, size_t to) { return (bytes + to - 1) / to * to; }

void fill_poison(std::byte* data, size_t bytes) {
  const uint32_t word = config::kPoisonWord;
  size_t i = 0;
  for (; i + sizeof(word) <= bytes; i += sizeof(word)) std::memcpy(data + i, &word, sizeof(word));
  std::memcpy(data + i, &word, bytes - i);
}

}  // namespace

size_t page_bytes() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

std::byte* Allocation::body() const { return mapping + page_bytes(); }
std::byte* Allocation::back_guard() const { return mapping + mapping_bytes - page_bytes(); }

void* allocate(size_t bytes) {
  const size_t page = page_bytes();
  const size_t aligned = round_up(bytes, config::kAllocationAlignment);
  const size_t body = round_up(aligned, page);
  const size_t mapping_bytes = page + body + page;
  void* mapped = mmap(nullptr, mapping_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapped == MAP_FAILED) return nullptr;
  auto* mapping = static_cast<std::byte*>(mapped);
  if (mprotect(mapping + page, body, PROT_READ | PROT_WRITE) != 0) {
    munmap(mapped, mapping_bytes);
    return nullptr;
  }
  Allocation allocation;
  allocation.data = mapping + page + (body - aligned);
  allocation.bytes = bytes;
  allocation.mapping = mapping;
  allocation.mapping_bytes = mapping_bytes;
  allocation.serial = g_next_serial++;
  std::memset(mapping + page, config::kGuardByte, body);
  fill_poison(allocation.data, bytes);
  registry().emplace(reinterpret_cast<uintptr_t>(allocation.data), allocation);
  g_live_bytes += bytes;
  return allocation.data;
}

bool release(void* data) {
  auto& allocations = registry();
  const auto it = allocations.find(reinterpret_cast<uintptr_t>(data));
  if (it == allocations.end()) return false;
  g_live_bytes -= it->second.bytes;
  munmap(it->second.mapping, it->second.mapping_bytes);
  allocations.erase(it);
  return true;
}

const Allocation* find(const void* pointer) {
  const auto& allocations = registry();
  const auto address = reinterpret_cast<uintptr_t>(pointer);
  auto it = allocations.upper_bound(address);
  if (it == allocations.begin()) return nullptr;
  --it;
  return address <= it->first + it->second.bytes ? &it->second : nullptr;
}

const Allocation* find_range(const void* pointer, size_t bytes) {
  const Allocation* allocation = find(pointer);
  if (allocation == nullptr) return nullptr;
  const auto offset = static_cast<size_t>(static_cast<const std::byte*>(pointer) - allocation->data);
  return offset + bytes <= allocation->bytes ? allocation : nullptr;
}

const Allocation* find_mapping(const void* pointer) {
  // A mapping starts less than two pages before its data: look at the allocations whose data
  // starts below pointer + 2 pages, nearest first (the mappings do not overlap).
  const auto* byte = static_cast<const std::byte*>(pointer);
  const auto& allocations = registry();
  auto it = allocations.upper_bound(reinterpret_cast<uintptr_t>(pointer) + 2 * page_bytes());
  for (int candidates = 0; candidates < 3 && it != allocations.begin(); ++candidates) {
    const Allocation& a = (--it)->second;
    if (byte >= a.mapping && byte < a.mapping + a.mapping_bytes) return &a;
  }
  return nullptr;
}

const Allocation* find_guard(const void* address) {
  const auto* byte = static_cast<const std::byte*>(address);
  const size_t page = page_bytes();
  for (const auto& [start, allocation] : registry()) {
    if (byte >= allocation.front_guard() && byte < allocation.front_guard() + page) return &allocation;
    if (byte >= allocation.back_guard() && byte < allocation.back_guard() + page) return &allocation;
  }
  return nullptr;
}

std::vector<const Allocation*> live_allocations() {
  std::vector<const Allocation*> all;
  all.reserve(registry().size());
  for (const auto& [start, allocation] : registry()) all.push_back(&allocation);
  return all;
}

size_t live_count() { return registry().size(); }
size_t live_bytes() { return g_live_bytes; }

namespace {

// The first and last changed byte of [from, from + n), or false.
bool changed_range(const std::byte* from, size_t n, size_t& first, size_t& last) {
  first = n, last = 0;
  for (size_t i = 0; i < n; ++i) {
    if (from[i] == std::byte{config::kGuardByte}) continue;
    first = std::min(first, i);
    last = i;
  }
  return first != n;
}

}  // namespace

std::string slack_damage(const Allocation& a) {
  const std::byte* tail = a.data + a.bytes;
  size_t first = 0, last = 0;
  std::ostringstream os;
  if (changed_range(tail, size_t(a.back_guard() - tail), first, last))
    os << "bytes " << first << ".." << last << " after the end";
  else if (changed_range(a.body(), size_t(a.data - a.body()), first, last))
    os << "bytes " << size_t(a.data - a.body()) - last << ".." << size_t(a.data - a.body()) - first
       << " before the start";
  else
    return {};
  os << " of allocation #" << a.serial << " (" << a.bytes << " bytes) were written";
  g_damaged.push_back(&a);
  return os.str();
}

void repair_damaged_slacks() {
  for (const Allocation* a : g_damaged) {
    std::memset(a->body(), config::kGuardByte, size_t(a->data - a->body()));
    std::memset(a->data + a->bytes, config::kGuardByte, size_t(a->back_guard() - (a->data + a->bytes)));
  }
  g_damaged.clear();
}

bool open_guard(void* page_address) {
  if (mprotect(page_address, page_bytes(), PROT_READ | PROT_WRITE) != 0) return false;
  if (g_open_guard_count < kMaxOpenGuards) g_open_guards[g_open_guard_count++] = page_address;
  else g_open_guards_overflowed = true;
  return true;
}

void close_guards() {
  const auto close = [](std::byte* page) {
    if (mprotect(page, page_bytes(), PROT_READ | PROT_WRITE) != 0) return;
    std::memset(page, config::kGuardByte, page_bytes());
    mprotect(page, page_bytes(), PROT_NONE);
  };
  for (int i = 0; i < g_open_guard_count; ++i) close(static_cast<std::byte*>(g_open_guards[i]));
  if (g_open_guards_overflowed)
    for (const auto& [start, allocation] : registry()) close(allocation.front_guard()), close(allocation.back_guard());
  g_open_guard_count = 0;
  g_open_guards_overflowed = false;
}

// ---- write tracking ---------------------------------------------------------------------------------

namespace {

// A tracked allocation's pages [start, end) and where their pages begin in the page numbering.
// `whole`: every page is saved and writable (set when opening pages one by one would split the
// mapping too often).
struct TrackedRange {
  std::byte* start;
  std::byte* end;
  size_t first_page;
  const Allocation* allocation;
  bool whole = false;
  size_t pages() const { return size_t(end - start) / page_bytes(); }
};

// Saved in the first run (its content after that run goes to first_run) or in the second.
enum PageFlag : uint8_t { kSavedFirst = 1, kSavedSecond = 2 };

// Each page opened alone splits its mapping in up to three; the kernel allows 65530 mappings per
// process. Past this many pages opened in one run, the allocation being written is opened whole.
constexpr size_t kMaxOpenedPages = 8192;

// Built before a run (allocation allowed), read by the fault handler (none allowed).
struct Tracking {
  bool active = false;
  bool second_run = false;
  std::vector<TrackedRange> ranges;
  size_t pages = 0;
  size_t opened = 0;               // pages opened one by one in this run
  std::byte* originals = nullptr;  // [pages][page]: a page's content before the launch
  std::byte* first_run = nullptr;  // [pages][page]: what the first run left in it
  std::vector<uint8_t> flags;      // [pages]
  std::vector<uint32_t> saved;     // page numbers in the order they were saved; capacity `pages`
};
Tracking g_tracking;

std::byte* map_reserve(size_t bytes) {
  void* mapped = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return mapped == MAP_FAILED ? nullptr : static_cast<std::byte*>(mapped);
}

std::byte* page_address(size_t page) {
  for (const TrackedRange& r : g_tracking.ranges)
    if (page < r.first_page + r.pages()) return r.start + (page - r.first_page) * page_bytes();
  return nullptr;
}

// Saves page `page` (at `start`) unless it is saved already. Async-signal-safe.
void save_page(Tracking& t, size_t page, const std::byte* start) {
  if (t.flags[page] != 0) return;
  std::memcpy(t.originals + page * page_bytes(), start, page_bytes());
  t.flags[page] = t.second_run ? kSavedSecond : kSavedFirst;
  t.saved.push_back(uint32_t(page));
}

}  // namespace

void begin_tracking(const std::vector<const Allocation*>& allocations) {
  Tracking& t = g_tracking;
  t = Tracking{};
  for (const Allocation* a : allocations) {
    t.ranges.push_back({a->body(), a->back_guard(), t.pages, a});
    t.pages += t.ranges.back().pages();
  }
  if (t.pages == 0) return;
  t.originals = map_reserve(t.pages * page_bytes());
  t.first_run = map_reserve(t.pages * page_bytes());
  t.flags.assign(t.pages, 0);
  t.saved.reserve(t.pages);
  for (const TrackedRange& r : t.ranges) mprotect(r.start, size_t(r.end - r.start), PROT_READ);
  t.active = true;
}

bool handle_write_fault(void* address) {
  Tracking& t = g_tracking;
  if (!t.active) return false;
  auto* byte = static_cast<std::byte*>(address);
  for (TrackedRange& r : t.ranges) {
    if (byte < r.start || byte >= r.end || r.whole) continue;
    const size_t in_range = size_t(byte - r.start) / page_bytes();
    std::byte* start = r.start + in_range * page_bytes();
    save_page(t, r.first_page + in_range, start);
    if (t.opened < kMaxOpenedPages && mprotect(start, page_bytes(), PROT_READ | PROT_WRITE) == 0) {
      ++t.opened;
      return true;
    }
    for (size_t p = 0; p < r.pages(); ++p) save_page(t, r.first_page + p, r.start + p * page_bytes());
    r.whole = true;
    return mprotect(r.start, size_t(r.end - r.start), PROT_READ | PROT_WRITE) == 0;
  }
  return false;
}

void rewind_tracked_writes() {
  Tracking& t = g_tracking;
  if (!t.active) return;
  for (const uint32_t page : t.saved) {
    std::byte* start = page_address(page);
    std::memcpy(t.first_run + size_t(page) * page_bytes(), start, page_bytes());
    std::memcpy(start, t.originals + size_t(page) * page_bytes(), page_bytes());
  }
  for (TrackedRange& r : t.ranges) {  // read-only again, one call per allocation (merges the mappings)
    if (!r.whole && std::none_of(t.flags.begin() + long(r.first_page), t.flags.begin() + long(r.first_page + r.pages()),
                                 [](uint8_t f) { return f != 0; }))
      continue;
    mprotect(r.start, size_t(r.end - r.start), PROT_READ);
    r.whole = false;
  }
  t.opened = 0;
  t.second_run = true;
}

std::optional<WriteDifference> compare_tracked_writes() {
  Tracking& t = g_tracking;
  if (!t.active) return std::nullopt;
  std::vector<uint32_t> pages(t.saved);
  std::sort(pages.begin(), pages.end());  // the first difference in the order of the tracked allocations
  std::optional<WriteDifference> first;
  size_t differing = 0;
  for (const uint32_t page : pages) {
    const std::byte* now = page_address(page);
    const std::byte* before = (t.flags[page] & kSavedFirst ? t.first_run : t.originals) + size_t(page) * page_bytes();
    if (std::memcmp(now, before, page_bytes()) == 0) continue;
    for (size_t w = 0; w < page_bytes(); w += sizeof(uint32_t)) {
      if (std::memcmp(now + w, before + w, sizeof(uint32_t)) == 0) continue;
      ++differing;
      if (first) continue;
      const TrackedRange* range = nullptr;
      for (const TrackedRange& r : t.ranges)
        if (now >= r.start && now < r.end) range = &r;
      WriteDifference d;
      d.allocation = range->allocation;
      d.offset = size_t(now + w - range->allocation->data);  // slacks were checked first
      std::memcpy(&d.first_word, before + w, sizeof(uint32_t));
      std::memcpy(&d.second_word, now + w, sizeof(uint32_t));
      first = d;
    }
  }
  if (first) first->differing_words = differing;
  return first;
}

void end_tracking() {
  Tracking& t = g_tracking;
  if (!t.active) return;
  t.active = false;
  for (const TrackedRange& r : t.ranges) mprotect(r.start, size_t(r.end - r.start), PROT_READ | PROT_WRITE);
  munmap(t.originals, t.pages * page_bytes());
  munmap(t.first_run, t.pages * page_bytes());
  t = Tracking{};
}

}  // namespace dsa::emu::memory
