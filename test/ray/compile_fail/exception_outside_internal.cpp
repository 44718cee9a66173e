// expect: 'RayTaskException' in namespace 'ray' does not name a type
// Ray's exceptions live in ray::internal.
#include <ray/api.h>

int Plus1(int x) { return x + 1; }
RAY_REMOTE(Plus1);

int main() {
  try {
    return *ray::Task(Plus1).Remote(1).Get();
  } catch (ray::RayTaskException& e) {
    return 1;
  }
}
