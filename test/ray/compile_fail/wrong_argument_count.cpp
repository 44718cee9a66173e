// expect: got a different number of arguments than f has parameters
#include <ray/api.h>

int Plus(int a, int b) { return a + b; }
RAY_REMOTE(Plus);

int main() { return *ray::Task(Plus).Remote(1).Get(); }
