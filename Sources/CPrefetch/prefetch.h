// Swift has no prefetch intrinsic; this inline function reaches the compiler builtin.
static inline __attribute__((always_inline)) void evpnscope_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}
