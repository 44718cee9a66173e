// expect: the result type cannot be serialized by cereal
#include <shmray/shmray.hpp>

struct Opaque {
  int x = 0;
};
Opaque make() { return {}; }
SHMRAY_REMOTE(make);

int main() { return 0; }
