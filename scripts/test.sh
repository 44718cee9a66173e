#!/usr/bin/env bash
# Builds shmray and runs every test; the last line is "N passed, N failed" counted per
# doctest case.
#   ./scripts/test.sh          the test suite (build dir: build/), without the consumer check
#   ./scripts/test.sh --ci     also the consumer check (scripts/consumer_check.sh: install,
#                              then the README example through pkg-config, CMake and as a
#                              meson subproject), the sanitizer builds (address+undefined,
#                              thread) and the fuzz targets, as CI does (chaos and soak run
#                              in every mode)
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
  if [[ ! -f $dir/build.ninja ]]; then
    env ${SETUP_ENV:-} meson setup "$dir" --wrap-mode=nodownload "$@" >"$dir.setup.log" 2>&1 ||
      env ${SETUP_ENV:-} meson setup "$dir" "$@" || { status=1; return; }
  fi
  if ! meson compile -C "$dir"; then status=1; return; fi
  meson test -C "$dir" --print-errorlogs ${SETUP:+--setup "$SETUP"} ${SUITES:-} || status=1
}

if ((ci)); then
  run_suite build
else
  SUITES="--no-suite consumer" run_suite build
fi
if ((ci)); then
  SETUP=san run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbench=false -Ddemos=false
  SETUP=san run_suite build-tsan -Db_sanitize=thread -Db_lundef=false -Dbench=false -Ddemos=false
  # libFuzzer targets (clang), a minute each over the seed corpus in test/fuzz/corpus/.
  SETUP_ENV=CXX=clang++ SETUP=san run_suite build-fuzz -Dfuzz=true -Dtests=false -Ddemos=false -Dbench=false \
    -Db_sanitize=address,undefined -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link
fi
python3 scripts/count_tests.py "${dirs[@]}" || status=1
exit $status
