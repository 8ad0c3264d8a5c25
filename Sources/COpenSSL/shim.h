// libcrypto from Debian's libssl-dev: SHA-2 with the CPU's SHA extensions, and
// ChaCha20 for generating reproducible test inputs. The low-level SHA256_*
// functions are deprecated in OpenSSL 3 but remain the fastest streaming path
// (no EVP fetch per call); the macro keeps their declarations warning-free.
#ifndef TAU_COPENSSL_SHIM_H
#define TAU_COPENSSL_SHIM_H
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#endif
