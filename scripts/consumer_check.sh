#!/usr/bin/env bash
# The consumer check: installs shmray into a temporary prefix, then builds and runs the
# README's example (its first ```cpp block) the three ways the README gives, each with the
# command the README shows and nothing else on it (the temporary prefix reaches pkg-config
# and CMake through PKG_CONFIG_PATH and CMAKE_PREFIX_PATH, the library the program through
# LD_LIBRARY_PATH, as ldconfig would after a real install):
#   pkg-config:  g++ -std=c++20 app.cpp $(pkg-config --cflags --libs shmray) -o app
#   CMake:       find_package(shmray 0.2 REQUIRED) + target_link_libraries(app PRIVATE shmray::shmray)
#   subproject:  dependency('shmray', fallback : 'shmray') from subprojects/shmray
# plus: a C++23 program keeps C++23 through pkg-config (std::to_underlying), and C++17 stops
# at the #error that names the fix.
#   ./scripts/consumer_check.sh [WORKDIR]   (default: a new temporary directory, removed after)
# Prints one line per check and "[checks] test cases: T | P passed | F failed", which
# scripts/count_tests.py counts; exits 1 when a check failed. Registered as the meson test
# consumer_check (suite consumer), which ./scripts/test.sh --ci runs.
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
if [[ $# -ge 1 ]]; then
  work=$1 keep=1
  # Emptied before each run: only a directory this script made (its marker) or an empty one.
  if [[ -d $work && -n $(ls -A "$work") && ! -f $work/.consumer-check && ! -f $work/install.log ]]; then
    echo "consumer_check: $work is not empty and not a consumer-check directory; give a new one"
    echo "[checks] test cases: 1 | 0 passed | 1 failed"
    exit 1
  fi
  rm -rf "$work" && mkdir -p "$work" && work=$(cd "$work" && pwd) && touch "$work/.consumer-check"
else
  work=$(mktemp -d) keep=0
  # Removed on every exit (a failed check, a timeout's SIGTERM, ^C), not only at the end.
  trap 'rm -rf "$work"' EXIT
  trap 'exit 1' INT TERM HUP
fi
prefix=$work/prefix
passed=0 failed=0

# check NAME FUNCTION: runs it with its output in NAME.log; the log's tail when it fails.
check() {
  local name=$1 t0=$SECONDS
  # errexit holds only outside a condition, hence the status taken after the subshell.
  (set -e; "$2") >"$work/$name.log" 2>&1
  if [[ $? -eq 0 ]]; then
    echo "ok: $name ($((SECONDS - t0)) s)"
    passed=$((passed + 1))
  else
    echo "FAILED: $name ($((SECONDS - t0)) s), the end of $work/$name.log:"
    tail -n 40 "$work/$name.log" | sed 's/^/  | /'
    failed=$((failed + 1))
  fi
}

expect_25() {
  local out
  out=$("$@")
  echo "output: $out"
  [[ $out == 25 ]]
}

# The library alone (no tests, demos, bench), installed into the temporary prefix.
install_lib() {
  meson setup "$work/build" "$src" --prefix="$prefix" --wrap-mode=nodownload \
    -Dtests=false -Ddemos=false -Dbench=false
  meson install -C "$work/build"
}

example() {
  mkdir -p "$1"
  awk '/^```cpp$/ { inside = 1; next } inside && /^```$/ { exit } inside' "$src/README.md" >"$1/app.cpp"
  grep -q SHMRAY_REMOTE "$1/app.cpp"
}

pc_env() {
  PKG_CONFIG_PATH=$(dirname "$(find "$prefix" -name shmray.pc | head -n 1)")
  LD_LIBRARY_PATH=$(dirname "$(find "$prefix" -name 'libshmray.so' | head -n 1)")
  export PKG_CONFIG_PATH LD_LIBRARY_PATH
}

pkgconfig() {
  example "$work/pc"
  cd "$work/pc"
  pc_env
  pkg-config --cflags --libs shmray
  g++ -std=c++20 app.cpp $(pkg-config --cflags --libs shmray) -o app
  expect_25 ./app
}

# shmray.pc adds no -std flag: C++23 stays C++23 (std::to_underlying is C++23).
pkgconfig_cxx23() {
  mkdir -p "$work/pc23"
  cd "$work/pc23"
  pc_env
  cat >app.cpp <<'EOF'
#include <shmray/shmray.hpp>
#include <utility>
enum class Color : int { red = 3 };
int triple(int x) { return 3 * x; }
SHMRAY_REMOTE(triple);
int main() {
  shmray::Session session({.num_workers = 1});
  return shmray::get(shmray::task(triple).remote(std::to_underlying(Color::red))) == 9 ? 0 : 1;
}
EOF
  g++ -std=c++23 app.cpp $(pkg-config --cflags --libs shmray) -o app
  ./app
}

# Below C++20 the first error is shmray's, and it names the fix.
pkgconfig_cxx17_error() {
  cd "$work/pc"
  pc_env
  if g++ -std=c++17 -fsyntax-only app.cpp $(pkg-config --cflags shmray) 2>err.txt; then
    echo "compiled as C++17"
    return 1
  fi
  grep -m1 'error' err.txt
  grep -m1 'error' err.txt | grep -q 'shmray needs C++20 or later: compile with -std=c++20'
}

cmake_package() {
  example "$work/cmake"
  cd "$work/cmake"
  cat >CMakeLists.txt <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(app CXX)
find_package(shmray 0.2 REQUIRED)
add_executable(app app.cpp)
target_link_libraries(app PRIVATE shmray::shmray)
EOF
  CMAKE_PREFIX_PATH=$prefix cmake -S . -B build
  cmake --build build
  expect_25 ./build/app
}

# A meson project with shmray in subprojects/: only the library is configured (no tests,
# demos, bench, ray_api, so neither doctest nor Boost is needed) and nothing is compiled with -Werror.
subproject() {
  example "$work/sub"
  cd "$work/sub"
  mkdir -p subprojects/shmray
  (cd "$src" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -C subprojects/shmray -xf -
  cat >meson.build <<'EOF'
project('app', 'cpp', default_options : ['cpp_std=c++20'])
executable('app', 'app.cpp', dependencies : dependency('shmray', fallback : 'shmray'))
EOF
  meson setup build
  ninja -C build
  expect_25 ./build/app
  echo "build steps: $(ninja -C build -t commands | wc -l)"
  if [[ -d build/subprojects/shmray/test ]]; then echo "tests configured in the subproject"; return 1; fi
  if [[ -d build/subprojects/shmray/ray ]]; then echo "libshmray_ray configured in the subproject"; return 1; fi
  if grep -q -- '-Werror' build/compile_commands.json; then echo "-Werror reached the parent's build"; return 1; fi
}

# The API reference installed beside the headers (option docs_html; CI has doxygen). Skipped,
# with a line that says so, when doxygen is not installed.
docs_html() {
  local index
  index=$(find "$prefix" -path '*/doc/shmray/html/index.html' | head -n 1)
  [[ -n $index ]] || { echo "no doc/shmray/html/index.html under $prefix"; return 1; }
  grep -q 'on_ready' "$(dirname "$index")"/*.html
  echo "API reference: $index"
}

cd "$work"
check install install_lib
if ((failed == 0)); then
  check pkgconfig pkgconfig
  check pkgconfig_cxx23 pkgconfig_cxx23
  check pkgconfig_cxx17_error pkgconfig_cxx17_error
  check cmake cmake_package
  if command -v doxygen >/dev/null 2>&1; then
    check docs_html docs_html
  else
    # Without doxygen the install has no API reference (docs_html is auto): nothing to check.
    echo "skipped: docs_html (doxygen not installed, so no API reference was installed; apt-get install doxygen)"
  fi
else
  failed=$((failed + 5))
fi
check subproject subproject
echo "[checks] test cases: $((passed + failed)) | $passed passed | $failed failed"
((failed == 0))
