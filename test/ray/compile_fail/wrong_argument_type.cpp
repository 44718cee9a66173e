// expect: arguments not match
#include <ray/api.h>

#include <string>

int Plus1(int x) { return x + 1; }
RAY_REMOTE(Plus1);

int main() { return *ray::Task(Plus1).Remote(std::string("one")).Get(); }
