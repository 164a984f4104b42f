// Device memory of the emulated GPU: every cudaMalloc is its own mapping, the data placed at the
// end of its pages so that the first byte past it is a guard page whenever its size is a multiple
// of 256 (cudaMalloc's alignment):
//
//   [guard page][front slack][data: bytes][tail: < 256 bytes][guard page]
//
// The slacks hold kGuardByte; the data starts poisoned (kPoisonWord). An access past the end or
// before the start either changes a slack (found when the launch ends) or touches a guard page
// (caught by the fault handler of engine.cpp, which names the kernel — reads too). The registry
// answers "which live allocation holds this pointer", which the launch checks, the copies and the
// schedule check's write tracking rely on. Single-threaded, like the emulator (engine.cpp holds a lock).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dsa::emu::memory {

struct Allocation {
  std::byte* data = nullptr;   // what cudaMalloc returned
  size_t bytes = 0;            // what it asked for
  std::byte* mapping = nullptr;
  size_t mapping_bytes = 0;
  uint64_t serial = 0;         // 1, 2, ... in allocation order: names the allocation in reports
  std::byte* front_guard() const { return mapping; }
  std::byte* body() const;     // the accessible pages: front slack, data, tail
  std::byte* back_guard() const;
};

// A new allocation of `bytes` (> 0), poisoned; nullptr when the host cannot map it.
void* allocate(size_t bytes);
// Unmaps the allocation that starts at `data`; false when `data` is not the start of a live one.
bool release(void* data);

// The live allocation whose data holds `pointer` (one past the end counts: an empty view at the
// end is a valid argument), or nullptr.
const Allocation* find(const void* pointer);
// The live allocation holding all of [pointer, pointer + bytes), or nullptr.
const Allocation* find_range(const void* pointer, size_t bytes);
// The live allocation whose mapping (guard pages and slacks included) holds `pointer`, or nullptr:
// "is this device memory at all" (copies classify pointers with it).
const Allocation* find_mapping(const void* pointer);
// The allocation one of whose guard pages holds `address`, or nullptr (async-signal-safe: reads
// the registry only).
const Allocation* find_guard(const void* address);
// Every live allocation (the bounds check looks at all of their slacks).
std::vector<const Allocation*> live_allocations();
// Live allocations and their total bytes (for reports and the peak statistics).
size_t live_count();
size_t live_bytes();

// Slack bytes that no longer hold kGuardByte: empty when intact, else a description ("bytes
// 0..3 after the end of allocation #5 (400 bytes) were written"); a damaged allocation is noted
// for repair_damaged_slacks.
std::string slack_damage(const Allocation& allocation);
// Restores the slacks that slack_damage reported, so the next launch starts clean. Call it when
// no write tracking is active (tracked pages are read-only).
void repair_damaged_slacks();

// A guard page opened by the fault handler so that the faulting access could complete; closed
// (pattern refilled, PROT_NONE again) by close_guards() when the launch ends.
bool open_guard(void* page_address);
void close_guards();

// ---- write tracking, for the schedule check (engine.cpp) -------------------------------------------
// While tracking, the pages of the given allocations (their bodies) are read-only. The first write
// to a page faults; the fault handler calls handle_write_fault, which saves the page's content
// and makes it writable. A launch that writes a few pages of a large arena costs those pages
// (past 8192 pages opened one by one, the allocation written is saved and opened whole).
void begin_tracking(const std::vector<const Allocation*>& allocations);
// From the fault handler (async-signal-safe: no allocation): true when `address` is in a tracked
// read-only page, which is now saved and writable; false when it is not tracked.
bool handle_write_fault(void* address);
// Between the two runs: keeps what the first run wrote, puts the original contents back, and makes
// those pages read-only again.
void rewind_tracked_writes();
// After the second run: where the two runs left different bytes (the lowest address first).
struct WriteDifference {
  const Allocation* allocation = nullptr;
  size_t offset = 0;           // bytes from the allocation's data start, a multiple of 4
  uint32_t first_word = 0;     // the 4 bytes there after the first run
  uint32_t second_word = 0;    // and after the second
  size_t differing_words = 0;  // over every written page
};
std::optional<WriteDifference> compare_tracked_writes();
// Ends tracking: every page writable again, the saved copies released.
void end_tracking();

size_t page_bytes();

}  // namespace dsa::emu::memory
