/*
 * One deliberate crash, chosen by CRASH, for testing how the emulator reports where a fault
 * came from (tests/test_faults.py):
 *
 *   call          hart 0 calls an unmapped address (0x40000000): jalr, ra names the call
 *   jump          hart 0 jumps there without a link (jr): only the last pc names the jump, and
 *                 ra its caller
 *   ram_end_load  hart 0 loads from one past the end of RAM (CRASH_RAM_MIB, default the
 *                 machine's default RAM size)
 *   ram_end_jump  hart 0 jumps there
 *   rom_store     hart 0 stores to the host ROM (read-only)
 *   hole_store    hart 0 stores to the unmapped hole between the CLINT and the UART
 *   panic_all     every hart panics at the same moment
 *   return        hart 0 returns to an unmapped address (its return address overwritten)
 */
#include <rt/runtime.h>

#define CRASH_ID_none 0
#define CRASH_ID_call 1
#define CRASH_ID_jump 2
#define CRASH_ID_ram_end_load 3
#define CRASH_ID_ram_end_jump 4
#define CRASH_ID_rom_store 5
#define CRASH_ID_hole_store 6
#define CRASH_ID_panic_all 7
#define CRASH_ID_return 8
#ifndef CRASH
#define CRASH none
#endif
#define CRASH_CAT_(a, b) a##b
#define CRASH_CAT(a, b) CRASH_CAT_(a, b)
#define CRASH_ID CRASH_CAT(CRASH_ID_, CRASH)

#ifndef CRASH_RAM_MIB
#define CRASH_RAM_MIB RAM_DEFAULT_MIB
#endif

#define UNMAPPED_ADDRESS 0x40000000UL
#define RAM_END (RAM_BASE + ((unsigned long)CRASH_RAM_MIB << 20))
#define DEVICE_HOLE (CLINT_BASE + 0x1000000UL) /* between the CLINT and the UART */

/* Not inlined, so the faulting transfer has a function of its own to be named by. In asm, so
 * the compiler picks neither the instruction nor whether to tail-call. */
static __attribute__((noinline)) void crash_call(unsigned long address) {
    __asm__ volatile("jalr ra, 0(%0)" ::"r"(address) : "ra", "memory");
}

static __attribute__((noinline)) void crash_jump(unsigned long address) {
    __asm__ volatile("jr %0" ::"r"(address) : "memory");
}

static __attribute__((noinline)) void crash_return(unsigned long address) {
    __asm__ volatile("mv ra, %0\n\tret" ::"r"(address) : "ra", "memory");
}

static __attribute__((noinline)) void crash_store(unsigned long address) {
    mmio_write32(address, 0xdead);
}

int app_main(unsigned hart, unsigned nharts) {
    (void)nharts;
    if (CRASH_ID == CRASH_ID_panic_all) {
        barrier_all();
        panic("crash on every hart");
    }
    if (hart != 0)
        return 0;
    switch (CRASH_ID) {
    case CRASH_ID_call:
        crash_call(UNMAPPED_ADDRESS);
        break;
    case CRASH_ID_jump:
        crash_jump(UNMAPPED_ADDRESS);
        break;
    case CRASH_ID_ram_end_load:
        printf("crash: read 0x%x\n", mmio_read32(RAM_END));
        break;
    case CRASH_ID_ram_end_jump:
        crash_call(RAM_END);
        break;
    case CRASH_ID_rom_store:
        crash_store(HOST_ROM_BASE);
        break;
    case CRASH_ID_return:
        crash_return(UNMAPPED_ADDRESS);
        break;
    case CRASH_ID_hole_store:
        crash_store(DEVICE_HOLE);
        break;
    default:
        printf("crash: CRASH names no crash; nothing happened\n");
        return 0;
    }
    printf("crash: the crash did not stop the run\n");
    return 1;
}
