#ifndef EXCHANGE_CLZ4_SHIM_H
#define EXCHANGE_CLZ4_SHIM_H
#include <lz4.h>
#endif
