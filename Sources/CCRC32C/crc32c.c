// CRC-32C for journal blocks. The hardware path is compiled with a function-level
// target("sse4.2") attribute, so the package needs no unsafe compiler flags, and it is chosen
// at run time with CPUID; every other CPU gets the portable slicing-by-8 path.
#include "crc32c.h"

#include <string.h>

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc32c_table[8][256];
static int crc32c_table_ready = 0;

static void crc32c_build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = n;
        for (int k = 0; k < 8; k++) {
            crc = (crc & 1) ? (crc >> 1) ^ CRC32C_POLY : crc >> 1;
        }
        crc32c_table[0][n] = crc;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = crc32c_table[0][n];
        for (int k = 1; k < 8; k++) {
            crc = crc32c_table[0][crc & 0xff] ^ (crc >> 8);
            crc32c_table[k][n] = crc;
        }
    }
    __atomic_store_n(&crc32c_table_ready, 1, __ATOMIC_RELEASE);
}

uint32_t exchange_crc32c_portable(uint32_t crc, const void *data, size_t length) {
    if (!__atomic_load_n(&crc32c_table_ready, __ATOMIC_ACQUIRE)) {
        // Building the table twice from two threads writes the same values: harmless.
        crc32c_build_table();
    }
    const uint8_t *p = (const uint8_t *)data;
    crc = ~crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        word ^= crc;  // little-endian hosts only (x86_64, aarch64)
        crc = crc32c_table[7][word & 0xff] ^ crc32c_table[6][(word >> 8) & 0xff] ^
              crc32c_table[5][(word >> 16) & 0xff] ^ crc32c_table[4][(word >> 24) & 0xff] ^
              crc32c_table[3][(word >> 32) & 0xff] ^ crc32c_table[2][(word >> 40) & 0xff] ^
              crc32c_table[1][(word >> 48) & 0xff] ^ crc32c_table[0][word >> 56];
        p += 8;
        length -= 8;
    }
    while (length--) {
        crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }
    return ~crc;
}

#if defined(__x86_64__)
#include <cpuid.h>

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const void *data, size_t length) {
    const uint8_t *p = (const uint8_t *)data;
    uint64_t c = ~crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        length -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (length--) {
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    }
    return ~c32;
}

static int crc32c_detect(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        return 0;
    }
    return (ecx & bit_SSE4_2) != 0;
}
#else
static int crc32c_detect(void) { return 0; }
#endif

// 0 = not checked yet, 1 = SSE4.2, 2 = portable.
static int crc32c_mode = 0;

int exchange_crc32c_hardware(void) {
    int mode = __atomic_load_n(&crc32c_mode, __ATOMIC_RELAXED);
    if (mode == 0) {
        mode = crc32c_detect() ? 1 : 2;
        __atomic_store_n(&crc32c_mode, mode, __ATOMIC_RELAXED);
    }
    return mode == 1;
}

uint32_t exchange_crc32c(uint32_t crc, const void *data, size_t length) {
#if defined(__x86_64__)
    if (exchange_crc32c_hardware()) {
        return crc32c_sse42(crc, data, length);
    }
#endif
    return exchange_crc32c_portable(crc, data, length);
}
