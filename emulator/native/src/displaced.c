/* A probe's displaced instruction, emulated (instruments/probes.py step_displaced; the same
 * decoders as machine/isa.py execute_alu and execute_control_flow): the register-only
 * instructions compilers open functions with and the pc-relative ones. Returns the next pc. */
#include "native.h"

static int is_control_flow(uint32_t word) {
    if (length_of(word) == 4) {
        uint32_t op = word & 0x7F;
        return op == 0x17 || op == 0x6F || op == 0x67 || op == 0x63;
    }
    uint32_t quadrant = word & 3, funct3 = (word >> 13) & 7;
    if (quadrant == 1)
        return funct3 == 5 || funct3 == 6 || funct3 == 7;
    if (quadrant == 2 && funct3 == 4)
        return ((word >> 2) & 31) == 0 && ((word >> 7) & 31) != 0;
    return 0;
}

static uint64_t execute_alu(nm_hart *h, uint32_t word, uint64_t pc) {
    if (length_of(word) == 4) { /* addi */
        set_xreg(h, (word >> 7) & 31, xreg(h, (word >> 15) & 31) + sext(word >> 20, 12));
        return pc + 4;
    }
    uint32_t quadrant = word & 3, funct3 = (word >> 13) & 7;
    int rd = (word >> 7) & 31, rs2 = (word >> 2) & 31;
    uint64_t imm6 = sext(((word >> 12) & 1) << 5 | rs2, 6);
    if (quadrant == 1 && funct3 == 0) { /* c.addi (c.nop when rd = 0) */
        set_xreg(h, rd, xreg(h, rd) + imm6);
    } else if (quadrant == 1 && funct3 == 2) { /* c.li */
        set_xreg(h, rd, imm6);
    } else if (quadrant == 1) { /* c.addi16sp */
        uint64_t imm = ((word >> 12) & 1) << 9 | ((word >> 6) & 1) << 4 | ((word >> 5) & 1) << 6 |
                       ((word >> 3) & 3) << 7 | ((word >> 2) & 1) << 5;
        set_xreg(h, 2, xreg(h, 2) + sext(imm, 10));
    } else if ((word >> 12) & 1) { /* c.add */
        set_xreg(h, rd, xreg(h, rd) + xreg(h, rs2));
    } else { /* c.mv */
        set_xreg(h, rd, xreg(h, rs2));
    }
    return pc + 2;
}

static uint64_t execute_control_flow(nm_hart *h, uint32_t word, uint64_t pc) {
    if (length_of(word) == 4) {
        uint32_t opcode = word & 0x7F;
        int rd = (word >> 7) & 31, rs1 = (word >> 15) & 31, rs2 = (word >> 20) & 31;
        if (opcode == 0x17) { /* auipc */
            set_xreg(h, rd, pc + sext(word & 0xFFFFF000u, 32));
            return pc + 4;
        }
        if (opcode == 0x6F) { /* jal */
            uint64_t imm = ((word >> 31) & 1) << 20 | ((word >> 12) & 0xFF) << 12 |
                           ((word >> 20) & 1) << 11 | ((word >> 21) & 0x3FF) << 1;
            set_xreg(h, rd, pc + 4);
            return pc + sext(imm, 21);
        }
        if (opcode == 0x67) { /* jalr */
            uint64_t target = (xreg(h, rs1) + sext(word >> 20, 12)) & ~(uint64_t)1;
            set_xreg(h, rd, pc + 4);
            return target;
        }
        uint64_t imm = ((word >> 31) & 1) << 12 | ((word >> 7) & 1) << 11 |
                       ((word >> 25) & 0x3F) << 5 | ((word >> 8) & 0xF) << 1;
        uint64_t a = xreg(h, rs1), b = xreg(h, rs2);
        int taken;
        switch ((word >> 12) & 7) {
        case 0:
            taken = a == b;
            break;
        case 1:
            taken = a != b;
            break;
        case 4:
            taken = (int64_t)a < (int64_t)b;
            break;
        case 5:
            taken = (int64_t)a >= (int64_t)b;
            break;
        case 6:
            taken = a < b;
            break;
        default:
            taken = a >= b;
            break; /* 7; 2 and 3 are no branch and never probed */
        }
        return taken ? pc + sext(imm, 13) : pc + 4;
    }
    uint32_t quadrant = word & 3, funct3 = (word >> 13) & 7;
    if (quadrant == 1 && funct3 == 5) { /* c.j */
        uint32_t b = word >> 2;
        uint64_t imm = ((b >> 10) & 1) << 11 | ((b >> 9) & 1) << 4 | ((b >> 7) & 3) << 8 |
                       ((b >> 6) & 1) << 10 | ((b >> 5) & 1) << 6 | ((b >> 4) & 1) << 7 |
                       ((b >> 1) & 7) << 1 | (b & 1) << 5;
        return pc + sext(imm, 12);
    }
    if (quadrant == 1) { /* c.beqz / c.bnez */
        uint64_t imm = ((word >> 12) & 1) << 8 | ((word >> 10) & 3) << 3 | ((word >> 5) & 3) << 6 |
                       ((word >> 3) & 3) << 1 | ((word >> 2) & 1) << 5;
        int zero = xreg(h, 8 + ((word >> 7) & 7)) == 0;
        int taken = funct3 == 6 ? zero : !zero;
        return taken ? pc + sext(imm, 9) : pc + 2;
    }
    uint64_t target = xreg(h, (word >> 7) & 31) & ~(uint64_t)1; /* c.jr / c.jalr */
    if ((word >> 12) & 1)
        set_xreg(h, 1, pc + 2);
    return target;
}

uint64_t execute_displaced(nm_hart *h, uint32_t word, uint64_t pc) {
    return is_control_flow(word) ? execute_control_flow(h, word, pc) : execute_alu(h, word, pc);
}

/* For tests: run `word` at `pc` on the registers in `regs` (x0..x31), as the probe would. */
uint64_t nm_execute_displaced(uint32_t word, uint64_t pc, uint64_t *regs) {
    nm_hart h = {.gpr = regs};
    return execute_displaced(&h, word, pc);
}
