// expect: a remote function cannot take an ObjectRef<T> parameter
// As in Ray's cluster mode: take the T, pass the ObjectRef; it is resolved before the call.
#include <ray/api.h>

int Deref(ray::ObjectRef<int> r) { return *r.Get(); }
RAY_REMOTE(Deref);

int main() { return *ray::Task(Deref).Remote(ray::Put(1)).Get(); }
