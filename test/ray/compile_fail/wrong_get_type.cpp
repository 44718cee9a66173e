// expect: conversion from 'shared_ptr<int>'
// ray::Get of an ObjectRef<int> gives a std::shared_ptr<int>: not a string.
#include <ray/api.h>

int Plus1(int x) { return x + 1; }
RAY_REMOTE(Plus1);

int main() {
  auto ref = ray::Task(Plus1).Remote(1);
  std::shared_ptr<std::string> s = ray::Get(ref);
  return static_cast<int>(s->size());
}
