// The Salsa20/20 key-stream kernel for private networks (pnet's XSalsa20),
// in C because Swift's SIMD shifts are element-wise loops that LLVM
// compiles to scalar rotates (≈270 MB/s); clang's vector extensions give
// 4- and 8-lane code (SSE2, AVX2 when the CPU has it). Swift keeps the
// stream state, HSalsa20 and partial blocks (Sources/P2P/Pnet/XSalsa20.swift).
#ifndef TAU_CSALSA20_H
#define TAU_CSALSA20_H

#include <stddef.h>
#include <stdint.h>

/// Writes `source` XOR `blocks` consecutive 64-byte Salsa20/20 key-stream
/// blocks to `destination`, the first being block number `counter` (64-bit
/// block counter, 8-byte nonce). `key` is the 256-bit key and `nonce` the
/// nonce, as little-endian words. `destination` may equal `source` (in
/// place) but must not otherwise overlap it; neither needs alignment;
/// nothing is retained.
void tau_salsa20_xor_blocks(const uint8_t *source, uint8_t *destination, size_t blocks,
                            const uint32_t key[8], const uint32_t nonce[2], uint64_t counter);

#endif
