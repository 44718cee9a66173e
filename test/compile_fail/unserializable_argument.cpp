// expect: a parameter type cannot be serialized by cereal
#include <shmray/shmray.hpp>

struct Opaque {  // no serialize(): cereal cannot write it
  int x = 0;
};
int use(int a) { return a; }
SHMRAY_REMOTE(use);
int take(Opaque o) { return o.x; }

int main() {
  // Registering `take` instantiates its invoker, which must refuse Opaque.
  static const bool registered = shmray::detail::register_remote("take", take);
  return registered ? 0 : 1;
}
