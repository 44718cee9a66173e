// Arguments too large to stage (SubmitRequest::args_source, issue 13, finding 4): written
// once, straight into the arena block the task reads them from, with no lock held (a 100 MB
// write must not stall the event thread). The block belongs to the submission until its
// publish; a submission that cannot be published at once (no table room, too many CPUs)
// moves its descriptor into desc and gives the block back, so the backlog never holds one
// and drops nothing it would have to free.
#include <cstring>

#include "driver/driver.hpp"
#include "wire/descriptor.hpp"

namespace shmray::driver {

void Driver::place_args(BacklogTask& t, const detail::SubmitRequest& req, std::size_t desc_size, bool into_block) {
  const detail::ValueSource& src = *req.args_source;
  std::uint64_t off = into_block ? objects_.try_allocate_block(desc_size) : 0;
  if (into_block && !off && events_pending()) {
    {
      std::lock_guard lock(mu_);
      pump_locked();  // finished tasks' blocks may wait unfreed in the event rings
    }
    off = objects_.try_allocate_block(desc_size);
  }
  // No room now: staged in desc as small arguments are, the task then waits in the backlog
  // for room (the same as before this path existed).
  if (!off) t.desc.resize(desc_size);
  std::byte* out = off ? v_.base + off : reinterpret_cast<std::byte*>(t.desc.data());
  wire::write_descriptor(out, req.resolve, {}, req.options->name);  // its head: the args follow
  try {
    src.write(src.ctx, {out + (desc_size - src.size), src.size});
  } catch (...) {
    if (off) {
      std::lock_guard lock(mu_);
      free_block_locked(off);
    }
    throw;
  }
  t.info.spill = off;
  t.prewritten = off ? static_cast<std::uint32_t>(desc_size) : 0;  // checked_descriptor_size: fits
}

void Driver::unplace_args_locked(BacklogTask& t) {
  if (!t.prewritten) return;
  const std::uint64_t off = t.info.spill;
  t.info.spill = 0;
  const std::size_t n = t.prewritten;
  t.prewritten = 0;
  try {
    t.desc.assign(reinterpret_cast<const char*>(v_.base + off), n);
  } catch (...) {
    free_block_locked(off);
    throw;
  }
  free_block_locked(off);
}

void Driver::drop_placed_args_locked(BacklogTask& t) noexcept {
  if (!t.prewritten) return;
  free_block_locked(t.info.spill);
  t.info.spill = 0;
  t.prewritten = 0;
}

}  // namespace shmray::driver
