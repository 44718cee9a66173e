// expect: an argument does not convert to its parameter's type
#include <shmray/shmray.hpp>

int twice(int a) { return 2 * a; }
SHMRAY_REMOTE(twice);

int main() { return shmray::task(twice).remote(std::string("seven")).get(); }
