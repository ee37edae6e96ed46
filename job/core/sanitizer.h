/*
 * sanitizer: PAIRPICK_ASAN is defined when the file is compiled with
 * AddressSanitizer (gcc's __SANITIZE_ADDRESS__, clang's __has_feature), for
 * the few places that must behave differently under it: Images keeps
 * test-sized arrays on the heap where their bounds are checked, and tests
 * that limit the address space skip (ASan reserves terabytes of it).
 */
#ifndef PAIRPICK_SANITIZER_H
#define PAIRPICK_SANITIZER_H

#if defined(__SANITIZE_ADDRESS__)
#define PAIRPICK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PAIRPICK_ASAN 1
#endif
#endif

#endif
