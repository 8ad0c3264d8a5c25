#include "csalsa20.h"

#include <string.h>

#define SIGMA0 0x61707865u
#define SIGMA1 0x3320646eu
#define SIGMA2 0x79622d32u
#define SIGMA3 0x6b206574u

#define ROTL(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
#define QR(a, b, c, d)            \
    do {                          \
        b ^= ROTL(a + d, 7);      \
        c ^= ROTL(b + a, 9);      \
        d ^= ROTL(c + b, 13);     \
        a ^= ROTL(d + c, 18);     \
    } while (0)
// Ten double rounds: columns, then rows.
#define DOUBLE_ROUNDS(x)                                      \
    for (int round = 0; round < 10; round++) {                \
        QR(x[0], x[4], x[8], x[12]);                          \
        QR(x[5], x[9], x[13], x[1]);                          \
        QR(x[10], x[14], x[2], x[6]);                         \
        QR(x[15], x[3], x[7], x[11]);                         \
        QR(x[0], x[1], x[2], x[3]);                           \
        QR(x[5], x[6], x[7], x[4]);                           \
        QR(x[10], x[11], x[8], x[9]);                         \
        QR(x[15], x[12], x[13], x[14]);                       \
    }

static inline uint32_t load_le32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void store_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void input_words(uint32_t in[16], const uint32_t key[8], const uint32_t nonce[2], uint64_t counter) {
    const uint32_t words[16] = {SIGMA0, key[0], key[1], key[2], key[3], SIGMA1, nonce[0], nonce[1],
                                (uint32_t)counter, (uint32_t)(counter >> 32), SIGMA2, key[4], key[5], key[6], key[7], SIGMA3};
    memcpy(in, words, sizeof words);
}

static void one_block(const uint8_t *source, uint8_t *data, const uint32_t key[8], const uint32_t nonce[2], uint64_t counter) {
    uint32_t in[16], x[16];
    input_words(in, key, nonce, counter);
    memcpy(x, in, sizeof x);
    DOUBLE_ROUNDS(x)
    for (int i = 0; i < 16; i++) store_le32(data + 4 * i, load_le32(source + 4 * i) ^ (x[i] + in[i]));
}

#if defined(__clang__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
typedef uint32_t v4 __attribute__((vector_size(16)));

// Writes `source` XOR four blocks of key stream to `data`: lane j of every word is block j's.
static inline void xor_four(const uint8_t *source, uint8_t *data, const v4 x[16]) {
    // Words 4g…4g+3 of the four blocks, transposed: row j is block j's.
    for (int g = 0; g < 4; g++) {
        v4 a = x[4 * g], b = x[4 * g + 1], c = x[4 * g + 2], d = x[4 * g + 3];
        v4 t0 = __builtin_shufflevector(a, b, 0, 4, 1, 5), t1 = __builtin_shufflevector(a, b, 2, 6, 3, 7);
        v4 t2 = __builtin_shufflevector(c, d, 0, 4, 1, 5), t3 = __builtin_shufflevector(c, d, 2, 6, 3, 7);
        v4 rows[4] = {__builtin_shufflevector(t0, t2, 0, 1, 4, 5), __builtin_shufflevector(t0, t2, 2, 3, 6, 7),
                      __builtin_shufflevector(t1, t3, 0, 1, 4, 5), __builtin_shufflevector(t1, t3, 2, 3, 6, 7)};
        for (int j = 0; j < 4; j++) {
            size_t offset = 64 * j + 16 * g;
            v4 value;
            memcpy(&value, source + offset, 16);
            value ^= rows[j];
            memcpy(data + offset, &value, 16);
        }
    }
}

// Four blocks at once (SSE2 on x86-64, NEON on arm64), lane j of every word
// belonging to block counter + j.
static void four_blocks(const uint8_t *source, uint8_t *data, const uint32_t key[8], const uint32_t nonce[2], uint64_t counter) {
    uint32_t in[16];
    input_words(in, key, nonce, counter);
    v4 start[16], x[16];
    for (int i = 0; i < 16; i++) start[i] = (v4){in[i], in[i], in[i], in[i]};
    uint64_t c1 = counter + 1, c2 = counter + 2, c3 = counter + 3;
    start[8] = (v4){(uint32_t)counter, (uint32_t)c1, (uint32_t)c2, (uint32_t)c3};
    start[9] = (v4){(uint32_t)(counter >> 32), (uint32_t)(c1 >> 32), (uint32_t)(c2 >> 32), (uint32_t)(c3 >> 32)};
    memcpy(x, start, sizeof x);
    DOUBLE_ROUNDS(x)
    for (int i = 0; i < 16; i++) x[i] += start[i];
    xor_four(source, data, x);
}

#if defined(__x86_64__)
typedef uint32_t v8 __attribute__((vector_size(32)));

// Eight blocks at once with AVX2 (used when the CPU has it).
__attribute__((target("avx2")))
static void eight_blocks(const uint8_t *source, uint8_t *data, const uint32_t key[8], const uint32_t nonce[2], uint64_t counter) {
    uint32_t in[16];
    input_words(in, key, nonce, counter);
    v8 start[16], x[16];
    for (int i = 0; i < 16; i++) start[i] = (v8){in[i], in[i], in[i], in[i], in[i], in[i], in[i], in[i]};
    uint32_t low[8], high[8];
    for (int j = 0; j < 8; j++) {
        low[j] = (uint32_t)(counter + (uint64_t)j);
        high[j] = (uint32_t)((counter + (uint64_t)j) >> 32);
    }
    memcpy(&start[8], low, 32);
    memcpy(&start[9], high, 32);
    memcpy(x, start, sizeof x);
    DOUBLE_ROUNDS(x)
    v4 first[16], second[16];
    for (int i = 0; i < 16; i++) {
        v8 word = x[i] + start[i];
        first[i] = __builtin_shufflevector(word, word, 0, 1, 2, 3);
        second[i] = __builtin_shufflevector(word, word, 4, 5, 6, 7);
    }
    xor_four(source, data, first);
    xor_four(source + 256, data + 256, second);
}
#define HAVE_EIGHT_BLOCKS 1
#endif
#define HAVE_FOUR_BLOCKS 1
#endif

void tau_salsa20_xor_blocks(const uint8_t *source, uint8_t *data, size_t blocks,
                            const uint32_t key[8], const uint32_t nonce[2], uint64_t counter) {
#ifdef HAVE_EIGHT_BLOCKS
    if (blocks >= 8 && __builtin_cpu_supports("avx2")) {
        while (blocks >= 8) {
            eight_blocks(source, data, key, nonce, counter);
            source += 512;
            data += 512;
            blocks -= 8;
            counter += 8;
        }
    }
#endif
#ifdef HAVE_FOUR_BLOCKS
    while (blocks >= 4) {
        four_blocks(source, data, key, nonce, counter);
        source += 256;
        data += 256;
        blocks -= 4;
        counter += 4;
    }
#endif
    while (blocks > 0) {
        one_block(source, data, key, nonce, counter);
        source += 64;
        data += 64;
        blocks -= 1;
        counter += 1;
    }
}
