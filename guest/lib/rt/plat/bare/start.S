/*
 * Boot. Every hart enters _start at RAM_BASE with a0 = hart id and a1 = FDT address; mhartid is
 * never read (it is 0 on every unicorn instance). Hart 0 prepares memory and the runtime while
 * the others sleep, then releases them; all then enter runtime_hart_main.
 */
#include <contract.h>
#include <rt/csr.h>
#include <rt/hart.h>

    .section .text.entry, "ax", @progbits
    .globl _start
_start:
    /* Nothing may interrupt boot; FP starts usable because F/D trap while FS is off. */
    csrw    mie, zero
    li      t0, MSTATUS_MIE | MSTATUS_FS
    csrc    mstatus, t0
    li      t0, MSTATUS_FS_INITIAL
    csrs    mstatus, t0

    /* Harts beyond the runtime's tables have no stack or block: keep them out for good. */
    li      t0, MAX_HARTS
    bgeu    a0, t0, hart_park

    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop

    la      sp, __stacks_end
    slli    t0, a0, HART_STACK_SHIFT
    sub     sp, sp, t0

    la      t0, trap_entry
    csrw    mtvec, t0

    la      tp, hart_locals
    slli    t0, a0, HART_LOCAL_SHIFT
    add     tp, tp, t0

    bnez    a0, secondary

    /* hart_locals lives in .bss, so ids are stored only after the clear. */
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:  sd      a0, HART_LOCAL_ID(tp)
    mv      a0, a1
    call    runtime_boot
    j       enter_main

secondary:
    /* Sleep until hart 0 sets boot_released; it sends an IPI after setting it, and msip stays
     * pending until cleared, so a wake-up between the load and the wfi is not lost. */
    li      t0, MIE_MSIE
    csrw    mie, t0
    la      t1, boot_released
1:  lw      t0, 0(t1)
    bnez    t0, 2f
    wfi
    j       1b
2:  fence   r, rw
    csrw    mie, zero
    sd      a0, HART_LOCAL_ID(tp)

enter_main:
    call    runtime_hart_main
    /* runtime_hart_main does not return; park in case it ever does. */

    .globl hart_park
hart_park:
    csrw    mie, zero
    csrci   mstatus, MSTATUS_MIE
1:  wfi
    j       1b

    /* The stacks: MAX_HARTS of HART_STACK_SIZE; hart h's stack ends at __stacks_end - h * size. */
    .section .stacks, "aw", @nobits
    .balign 4096
    .space  MAX_HARTS * HART_STACK_SIZE

    /* In .data, not .bss: secondaries read it while hart 0 is still clearing .bss. */
    .section .data
    .globl boot_released
    .balign 4
boot_released:
    .word   0
