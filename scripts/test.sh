#!/usr/bin/env bash
# Builds shmray and runs every test; the last line is "N passed, N failed" counted per
# doctest case.
#   ./scripts/test.sh          the test suite (build dir: build/), without the consumer check
#   ./scripts/test.sh --ci     also the consumer check (scripts/consumer_check.sh: install,
#                              then the README example through pkg-config, CMake and as a
#                              meson subproject), the sanitizer builds (address+undefined,
#                              thread) and the fuzz targets, as CI does (chaos and soak run
#                              in every mode). build/ and build-tsan/ use the default c++
#                              (gcc); build-asan/ and build-fuzz/ clang++, so CI compiles the
#                              whole suite with both compilers
set -uo pipefail
cd "$(dirname "$0")/.."
ci=0
[[ ${1:-} == --ci ]] && ci=1

dirs=()
status=0

# run_suite DIR [meson setup args...]: configure (once), build, test.
run_suite() {
  local dir=$1; shift
  dirs+=("$dir")
  # A dir this script once configured with another compiler (build-asan/ was gcc's before
  # it became clang's) is configured afresh: meson keeps the compiler a dir was set up with.
  if [[ -f $dir/build.ninja && ${SETUP_ENV:-} == CXX=* ]]; then
    local want have
    want=$(env ${SETUP_ENV} sh -c '"$CXX" --version' 2>/dev/null | grep -qi clang && echo clang || echo gcc)
    have=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["host"]["cpp"]["id"])' \
      "$dir/meson-info/intro-compilers.json" 2>/dev/null)
    if [[ $have != "$want" ]]; then
      echo "$dir: configured with ${have:-an unknown compiler}, wanted $want: configuring it again"
      rm -rf "$dir"
    fi
  fi
  if [[ ! -f $dir/build.ninja ]]; then
    env ${SETUP_ENV:-} meson setup "$dir" --wrap-mode=nodownload "$@" >"$dir.setup.log" 2>&1 ||
      env ${SETUP_ENV:-} meson setup "$dir" "$@" || { status=1; return; }
  fi
  local t0=$SECONDS
  if ! meson compile -C "$dir"; then status=1; return; fi
  local t1=$SECONDS
  meson test -C "$dir" --print-errorlogs ${SETUP:+--setup "$SETUP"} ${SUITES:-} || status=1
  # Where CI's time goes (it must stay under 45 minutes): one line per build directory.
  echo "timing: $dir: build $((t1 - t0)) s, tests $((SECONDS - t1)) s"
}

if ((ci)); then
  run_suite build
else
  SUITES="--no-suite consumer" run_suite build
fi
if ((ci)); then
  # The source checks (lint, docs) and compile_fail do not change with a sanitizer: they
  # run once, in build/.
  san_suites="--no-suite lint --no-suite docs --no-suite compile_fail --no-suite consumer"
  # address+undefined with clang: CI's clang build of the whole suite (the plain build and
  # the thread one are gcc), for no extra build. b_lundef=false: clang links the sanitizer
  # runtime into executables only, so libshmray.so keeps undefined __asan_/__ubsan_ symbols.
  SETUP_ENV=CXX=clang++ SUITES=$san_suites SETUP=san run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbench=false -Ddemos=false
  SUITES=$san_suites SETUP=san run_suite build-tsan -Db_sanitize=thread -Db_lundef=false -Dbench=false -Ddemos=false
  # libFuzzer targets (clang), a minute each (two at a time) over the seed corpus in test/fuzz/corpus/.
  SETUP_ENV=CXX=clang++ SETUP=san run_suite build-fuzz -Dfuzz=true -Dtests=false -Ddemos=false -Dbench=false -Dray_api=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link
fi
python3 scripts/count_tests.py "${dirs[@]}" || status=1
exit $status
