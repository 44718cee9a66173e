// expect: takes its parameters by value or by const&
#include <shmray/shmray.hpp>

void bump(int& x) { ++x; }
SHMRAY_REMOTE(bump);

int main() { return 0; }
