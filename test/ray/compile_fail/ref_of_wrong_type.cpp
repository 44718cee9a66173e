// expect: arguments not match
// An ObjectRef<T> argument stands for a T: a ref to a string cannot fill an int parameter.
#include <ray/api.h>

#include <string>

int Plus1(int x) { return x + 1; }
RAY_REMOTE(Plus1);

int main() {
  auto s = ray::Put(std::string("one"));
  return *ray::Task(Plus1).Remote(s).Get();
}
