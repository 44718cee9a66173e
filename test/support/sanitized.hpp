#pragma once
// kSanitized: true in an address or thread sanitizer build, where tasks run ~10x slower.
// Tests that submit tens of thousands of tasks scale their counts down with it: the same
// behaviour is checked, in a time a sanitized CI run can afford. SHMRAY_TEST_SANITIZED is the
// same answer for #if (code a sanitizer cannot run at all).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SHMRAY_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SHMRAY_TEST_SANITIZED 1
#endif
#endif

namespace shmray::test {
#ifdef SHMRAY_TEST_SANITIZED
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
/// `n`, or a fifth of it in a sanitizer build.
constexpr int scaled(int n) { return kSanitized ? n / 5 : n; }
}  // namespace shmray::test
