// bzip2's CRC (CRC-32, polynomial 0x04C11DB7, most significant bit first) by carry-less
// multiplication: Swift cannot reach the PCLMULQDQ instruction, and the table method took
// ~7 % of the bzip2 decoder thread. Folding keeps a 128-bit value congruent, modulo the
// polynomial, to the message read so far: for X = H·x^64 + L followed by 128 more bits D,
// X·x^128 + D ≡ H·(x^192 mod P) + L·(x^128 mod P) + D. Four such values fold 64 bytes a step.
// The caller finishes with its table method over the folded value's 16 bytes and the tail.
#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

static inline int evpnscope_crc_fold_available(void) {
    return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("ssse3");
}

__attribute__((target("pclmul,ssse3"))) static inline __m128i evpnscope_crc_fold(__m128i x, __m128i k) {
    return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x11), _mm_clmulepi64_si128(x, k, 0x00));
}

// Folds `count` bytes (a multiple of 64, at least 64) of `bytes`, whose first four bytes are
// taken XORed with `initial`, into the 16 bytes of `out` (message order). `constants`: x^576,
// x^512, x^192 and x^128, each modulo the polynomial.
__attribute__((target("pclmul,ssse3"))) static inline void evpnscope_crc_fold64(
    const uint8_t *bytes, size_t count, uint32_t initial, const uint32_t constants[4], uint8_t out[16]) {
    const __m128i reverse = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m128i by512 = _mm_set_epi64x(constants[0], constants[1]);
    const __m128i by128 = _mm_set_epi64x(constants[2], constants[3]);
    __m128i a0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)bytes), reverse);
    __m128i a1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(bytes + 16)), reverse);
    __m128i a2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(bytes + 32)), reverse);
    __m128i a3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(bytes + 48)), reverse);
    a0 = _mm_xor_si128(a0, _mm_set_epi32((int)initial, 0, 0, 0));
    for (size_t i = 64; i < count; i += 64) {
        a0 = _mm_xor_si128(evpnscope_crc_fold(a0, by512),
                           _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(bytes + i)), reverse));
        a1 = _mm_xor_si128(evpnscope_crc_fold(a1, by512),
                           _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(bytes + i + 16)), reverse));
        a2 = _mm_xor_si128(evpnscope_crc_fold(a2, by512),
                           _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(bytes + i + 32)), reverse));
        a3 = _mm_xor_si128(evpnscope_crc_fold(a3, by512),
                           _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(bytes + i + 48)), reverse));
    }
    __m128i x = _mm_xor_si128(evpnscope_crc_fold(a0, by128), a1);
    x = _mm_xor_si128(evpnscope_crc_fold(x, by128), a2);
    x = _mm_xor_si128(evpnscope_crc_fold(x, by128), a3);
    _mm_storeu_si128((__m128i *)out, _mm_shuffle_epi8(x, reverse));
}
#endif
