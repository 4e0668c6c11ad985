#ifndef EXCHANGE_CLIBCRYPTO_SHIM_H
#define EXCHANGE_CLIBCRYPTO_SHIM_H
// The SHA256_* functions are deprecated in OpenSSL 3 in favour of EVP, but EVP_DigestInit
// allocates a fresh context on every hash in 3.0; SHA256_CTX lives in our own memory and runs
// the same SHA-NI code. Silence the deprecation rather than allocate once per block.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#endif
