#ifndef EXCHANGE_CLIBCRYPTO_SHIM_H
#define EXCHANGE_CLIBCRYPTO_SHIM_H
#include <openssl/evp.h>
#endif
