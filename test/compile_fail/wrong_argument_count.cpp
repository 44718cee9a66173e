// expect: got a different number of arguments than f has parameters
#include <shmray/shmray.hpp>

int add(int a, int b) { return a + b; }
SHMRAY_REMOTE(add);

int main() { return shmray::task(add).remote(1).get(); }
