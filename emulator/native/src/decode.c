/* Decoders for the instructions C executes itself (machine/isa.py has the same in Python):
 * plain loads and stores of sync sites, and the store after a release fence. */
#include "native.h"

/* c.lw/c.ld/c.sw/c.sd (formats CL and CS share their fields): address, width and the register
 * rd' or rs2'. */
static void cl_cs(const nm_hart *h, uint32_t word, uint64_t *address, int *width, int *reg) {
    uint64_t off;
    if (word & 0x2000) { /* .d */
        *width = 8;
        off = ((word >> 10) & 7) << 3 | ((word >> 5) & 3) << 6;
    } else {
        *width = 4;
        off = ((word >> 10) & 7) << 3 | ((word >> 6) & 1) << 2 | ((word >> 5) & 1) << 6;
    }
    *address = xreg(h, 8 + ((word >> 7) & 7)) + off;
    *reg = 8 + ((word >> 2) & 7);
}

int load_operands(const nm_hart *h, uint32_t word, uint64_t *address, int *width, int *sign,
                  int *rd) {
    if (length_of(word) == 4) {
        uint32_t funct3 = (word >> 12) & 7;
        if ((word & 0x7F) != 0x03 || funct3 == 7)
            return 0;
        *address = xreg(h, (word >> 15) & 31) + sext(word >> 20, 12);
        *width = 1 << (funct3 & 3);
        *sign = funct3 < 4;
        *rd = (word >> 7) & 31;
        return 1;
    }
    uint32_t quadrant = word & 3, funct3 = (word >> 13) & 7;
    if (quadrant == 0 && (funct3 == 2 || funct3 == 3)) { /* c.lw, c.ld */
        cl_cs(h, word, address, width, rd);
        *sign = 1;
        return 1;
    }
    if (quadrant == 2 && (funct3 == 2 || funct3 == 3) && ((word >> 7) & 31)) { /* c.lwsp/ldsp */
        uint64_t off;
        *rd = (word >> 7) & 31;
        if (funct3 == 2)
            off = ((word >> 4) & 7) << 2 | ((word >> 12) & 1) << 5 | ((word >> 2) & 3) << 6;
        else
            off = ((word >> 5) & 3) << 3 | ((word >> 12) & 1) << 5 | ((word >> 2) & 7) << 6;
        *address = xreg(h, 2) + off;
        *width = funct3 == 2 ? 4 : 8;
        *sign = 1;
        return 1;
    }
    return 0;
}

int store_operands(const nm_hart *h, uint32_t word, uint64_t *address, int *width,
                   uint64_t *value) {
    if (length_of(word) == 4) {
        uint32_t funct3 = (word >> 12) & 7;
        if ((word & 0x7F) != 0x23 || funct3 > 3)
            return 0;
        uint64_t imm = sext(((word >> 25) << 5) | ((word >> 7) & 31), 12);
        *address = xreg(h, (word >> 15) & 31) + imm;
        *width = 1 << funct3;
        *value = xreg(h, (word >> 20) & 31);
        return 1;
    }
    uint32_t quadrant = word & 3, funct3 = (word >> 13) & 7;
    if (quadrant == 0 && (funct3 == 6 || funct3 == 7)) { /* c.sw, c.sd */
        int rs2;
        cl_cs(h, word, address, width, &rs2);
        *value = xreg(h, rs2);
        return 1;
    }
    if (quadrant == 2 && (funct3 == 6 || funct3 == 7)) { /* c.swsp, c.sdsp */
        uint64_t off;
        if (funct3 == 6)
            off = ((word >> 9) & 15) << 2 | ((word >> 7) & 3) << 6;
        else
            off = ((word >> 10) & 7) << 3 | ((word >> 7) & 7) << 6;
        *address = xreg(h, 2) + off;
        *width = funct3 == 6 ? 4 : 8;
        *value = xreg(h, (word >> 2) & 31);
        return 1;
    }
    return 0;
}
