#pragma once
/// @file config.hpp
/// Included first by every public header: checks the language standard and defines
/// SHMRAY_API, the mark on what libshmray.so exports (it is built with
/// -fvisibility=hidden, so everything else stays inside the library).

// shmray needs C++20 or later; neither shmray.pc nor the CMake package adds a -std flag,
// so a C++23 program stays C++23.
#if !defined(__cplusplus) || __cplusplus < 202002L
#error "shmray needs C++20 or later: compile with -std=c++20 (or -std=c++23, -std=gnu++20...)"
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SHMRAY_API __attribute__((visibility("default")))
#else
#define SHMRAY_API
#endif
