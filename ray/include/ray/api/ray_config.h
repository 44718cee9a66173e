#pragma once
/// @file ray_config.h
/// ray::RayConfig: the fields of Ray's config a program sets before ray::Init(config).
/// On shmray, `address` must be empty or "local" (one machine), `head_args` may carry
/// "--num-cpus=N" (worker processes) and "--object-store-memory=BYTES"; the other fields
/// are accepted and ignored, so a program written for a cluster still builds.
#include <string>
#include <vector>

namespace ray {

class RayConfig {
 public:
  /// Ray: the cluster to join ("ip:port"). shmray: empty or "local" only.
  std::string address = "";
  /// Ray: where workers find the program's shared library. Ignored: shmray's workers are
  /// forks of the driver and already hold every RAY_REMOTE function.
  std::vector<std::string> code_search_path;
  /// Ray: password of the cluster's Redis. Ignored.
  std::string redis_password = "";
  /// Ray: run tasks in the driver process. Ignored (always the worker pool).
  bool local_mode = false;
  /// Ray: arguments of the implicit `ray start --head`. shmray reads --num-cpus and
  /// --object-store-memory from them.
  std::vector<std::string> head_args;
  /// Ray: the job's namespace. Ignored.
  std::string ray_namespace = "";
};

}  // namespace ray
