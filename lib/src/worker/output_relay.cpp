#include "worker/output_relay.hpp"

#include <limits.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace shmray::worker {

namespace {
constexpr std::size_t kWriteChunk = PIPE_BUF;  // after POLLOUT a pipe takes this much without blocking
}  // namespace

void Sink::put(std::string_view prefix, std::string_view a, std::string_view b, bool newline) {
  if (broken) return;
  const std::size_t n = prefix.size() + a.size() + b.size() + (newline ? 1 : 0);
  if (pending() + n > kMaxQueued + kMaxPartial) {
    dropped += n;
    return;
  }
  note_dropped();
  q.append(prefix).append(a).append(b);
  if (newline) q += '\n';
}

void Sink::note_dropped() {
  if (!dropped) return;
  q += "[shmray: " + std::to_string(dropped) + " bytes of worker output dropped]\n";
  dropped = 0;
}

void Sink::flush_some() {
  for (int i = 0; i < 1024 && !broken && pending(); ++i) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 0) <= 0) break;
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return fail();
    const ssize_t w = ::write(fd, q.data() + head, std::min(pending(), kWriteChunk));
    if (w < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (w <= 0) return fail();
    head += static_cast<std::size_t>(w);
    progress = Clock::now();
  }
  if (head == q.size()) {
    q.clear();
    head = 0;
    progress = Clock::now();
    note_dropped();
  } else if (head > q.size() / 2) {
    q.erase(0, head);
    head = 0;
  }
}

void Sink::fail() {
  broken = true;
  q.clear();
  q.shrink_to_fit();
  head = 0;
}

std::string line_prefix(pid_t pid, const shm::TaskLabel& before, const shm::TaskLabel& after, bool drained, Stream& s) {
  std::string p = "(pid=" + std::to_string(pid);
  const bool named = after.valid && !after.name.empty() && (after.running || !(s.quiet && s.quiet_seq == after.seq));
  if (after.valid && !after.running && drained && before.valid && before.seq == after.seq) {
    s.quiet = true;  // idle all through a read that emptied the pipe: what follows is not the task's
    s.quiet_seq = after.seq;
  }
  if (named) {
    p += ", task=";
    for (const char ch : after.name)  // the user's text, in a line of its own: no control bytes
      p += (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ? '?' : ch;
  }
  return p += ") ";
}

void relay_take(std::string_view prefix, Stream& s, Sink& sink, std::string_view data) {
  while (!data.empty()) {
    const auto nl = data.find('\n');
    if (nl != std::string_view::npos && s.partial.size() + nl < kMaxPartial) {
      sink.put(prefix, s.partial, data.substr(0, nl + 1), false);
      s.partial.clear();
      data.remove_prefix(nl + 1);
      continue;
    }
    const std::size_t room = kMaxPartial - s.partial.size();
    if (data.size() < room && nl == std::string_view::npos) {
      s.partial.append(data);
      return;
    }
    // A line of kMaxPartial bytes without its end yet: relay this piece as a line.
    sink.put(prefix, s.partial, data.substr(0, room), true);
    s.partial.clear();
    data.remove_prefix(room);
  }
}

void end_stream(std::string_view prefix, Stream& s, Sink& sink) {
  if (!s.partial.empty()) sink.put(prefix, s.partial, {}, true);
  s.partial.clear();
  ::close(s.fd);
  s.fd = -1;
}

}  // namespace shmray::worker
