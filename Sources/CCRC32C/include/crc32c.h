#ifndef EXCHANGE_CRC32C_H
#define EXCHANGE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), zlib-style: pass 0 to start and the
/// previous result to continue, so crc32c(crc32c(0, a), b) == crc32c(0, a ‖ b).
/// Uses the SSE4.2 CRC32 instruction when the CPU has it (checked once, at run time).
uint32_t exchange_crc32c(uint32_t crc, const void *data, size_t length);

/// The portable table-driven implementation (slicing-by-8), for tests and for CPUs without SSE4.2.
uint32_t exchange_crc32c_portable(uint32_t crc, const void *data, size_t length);

/// 1 when exchange_crc32c uses the SSE4.2 instruction on this CPU, else 0.
int exchange_crc32c_hardware(void);

#endif
