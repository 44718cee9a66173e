#pragma once
/// @file wait_result.h
/// What ray::Wait returns: the refs that are ready and the rest, each in input order.
#include <list>
#include <utility>

#include <ray/api/object_ref.h>

namespace ray {

template <class T>
class WaitResult {
 public:
  std::list<ObjectRef<T>> ready;
  std::list<ObjectRef<T>> unready;
  WaitResult() = default;
  WaitResult(std::list<ObjectRef<T>>&& ready_objects, std::list<ObjectRef<T>>&& unready_objects)
      : ready(std::move(ready_objects)), unready(std::move(unready_objects)) {}
};

}  // namespace ray
