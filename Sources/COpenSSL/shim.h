// libcrypto from Debian's libssl-dev: SHA-2 with the CPU's SHA extensions,
// ChaCha20 for generating reproducible test inputs, and the parsing and
// signature checks of peers' RSA, ECDSA and secp256k1 identity keys (x509.h
// declares d2i_PUBKEY and i2d_PUBKEY; err.h clears the error queue). The
// low-level SHA256_* functions are deprecated in OpenSSL 3 but remain the
// fastest streaming path (no EVP fetch per call); the macro keeps their
// declarations warning-free.
#ifndef TAU_COPENSSL_SHIM_H
#define TAU_COPENSSL_SHIM_H
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <openssl/err.h>
#endif
