/*
 * The guest <-> host contract: the one definition of the memory map, the boot protocol's
 * constants, the system-call numbers and every exit code. C includes this file; the emulator
 * (emulator/contract.py) parses it, and tests/test_contract.py proves both read the same values.
 *
 * Rules for this file, so the Python side can read it: one `#define NAME VALUE` per line, VALUE an
 * integer expression of literals (optional U/L suffixes), earlier names, + - * << >> | & ~ and
 * parentheses. Nothing else goes here.
 */
#ifndef CONTRACT_H
#define CONTRACT_H

/* ---- Memory map: the QEMU `-M virt -bios none` layout, so one image boots on both. ---------- */

/* QEMU's mask ROM: the reset vector every hart starts at with --bios FILE (a0 = mhartid, a1 = FDT,
 * a2 = the fw_dynamic info block that follows it), read-only. */
#define MROM_BASE 0x1000UL
#define MROM_SIZE 0xF000UL

/* The host's own read-only page (the emulator's idle loop, probe trampolines): in a hole of QEMU's
 * map, between the mask ROM and the test finisher, so no guest address of QEMU virt lands in it. */
#define HOST_ROM_BASE 0x80000UL
#define HOST_ROM_SIZE 0x1000UL

/* sifive,test0: write FINISHER_PASS to exit 0, (code << 16) | FINISHER_FAIL to exit with code. */
#define FINISHER_BASE 0x100000UL
#define FINISHER_SIZE 0x1000UL
#define FINISHER_FAIL 0x3333
#define FINISHER_PASS 0x5555
#define FINISHER_RESET 0x7777

/* CLINT: msip[h] (IPI) at +4h, mtimecmp[h] at +0x4000 + 8h, mtime at +0xBFF8. */
#define CLINT_BASE 0x2000000UL
#define CLINT_SIZE 0x10000UL
#define CLINT_MSIP 0x0
#define CLINT_MTIMECMP 0x4000
#define CLINT_MTIME 0xBFF8

/* PLIC (sifive,plic-1.0.0): source priorities at +4s, pending bits at +0x1000, per-context enable
 * bits at +0x2000 + 0x80c, threshold and claim/complete at +0x200000 + 0x1000c; context 2h is hart
 * h's M mode, 2h + 1 its S mode. The size is QEMU virt's, whatever the hart count. */
#define PLIC_BASE 0xC000000UL
#define PLIC_SIZE 0x600000UL
#define PLIC_SOURCES 96

/* UART 16550: THR at +0, LSR at +5 (bit 5 THRE, bit 6 TEMT: always set, output never blocks); its
 * interrupt is PLIC source UART_IRQ. */
#define UART_BASE 0x10000000UL
#define UART_SIZE 0x100UL
#define UART_THR 0
#define UART_LSR 5
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_IRQ 10

/* RAM; its size is the machine's (--ram), and the guest learns its top from the FDT address. A raw
 * kernel binary goes to the first KERNEL_ALIGN boundary after the firmware (0x80200000 after
 * OpenSBI; RAM_BASE with --bios none), as on QEMU. */
#define RAM_BASE 0x80000000UL
#define KERNEL_ALIGN 0x200000UL
#define RAM_DEFAULT_MIB 128
#define RAM_MIN_MIB 16
#define RAM_MAX_MIB 2048

/* Where SBI firmware enters its S-mode payload (QEMU virt's -kernel address on RV64, OpenSBI
 * fw_jump's FW_JUMP_ADDR): images built for --firmware opensbi are linked here. */
#define KERNEL_BASE 0x80200000UL

/* Pages: 4 KiB, the base page of RISC-V Sv39/Sv48, the unit of the guest's page allocators and of
 * mmap (as in Unikraft's allocators). */
#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)

/* ---- Boot. ----------------------------------------------------------------------------------- */

/* With --bios none (the bundled apps), every hart starts at the ELF entry (= RAM_BASE) in M mode
 * with a0 = hart id and a1 = FDT; with --bios FILE, at MROM_BASE, whose reset vector enters the
 * firmware at RAM_BASE the same way. */

#define MAX_HARTS 64
/* The FDT sits where QEMU 7.2 virt puts it: 2 MiB-aligned, just below the end of RAM. */
#define FDT_ALIGN 0x200000UL
#define FDT_MAX_SIZE 0x10000UL

/* ---- Time: mtime ticks at 10 MHz; a hart retires 100 instructions per tick (1 ns each). ------ */

#define MTIME_HZ 10000000
#define INSNS_PER_MTIME_TICK 100

/* ---- Traps (mcause/scause values the runtime and the emulator both use). ------------------- */

#define CAUSE_MISALIGNED_FETCH 0
#define CAUSE_FETCH_ACCESS 1
#define CAUSE_ILLEGAL_INSTRUCTION 2
#define CAUSE_BREAKPOINT 3
#define CAUSE_LOAD_ACCESS 5
#define CAUSE_STORE_ACCESS 7
#define CAUSE_USER_ECALL 8
#define CAUSE_SUPERVISOR_ECALL 9
#define CAUSE_MACHINE_ECALL 11
#define CAUSE_INTERRUPT (1UL << 63)
#define IRQ_S_SOFT 1
#define IRQ_M_SOFT 3
#define IRQ_S_TIMER 5
#define IRQ_M_TIMER 7
#define IRQ_S_EXT 9
#define IRQ_M_EXT 11

/* ---- System calls: `ecall` with Linux RISC-V numbers in a7, handled by the guest's handler. -- */

#define SYS_write 64
#define SYS_exit 93
#define SYS_exit_group 94
#define SYS_munmap 215
#define SYS_mmap 222

/* Negative errno values a system call returns (Linux numbering). */
#define ERRNO_EBADF 9
#define ERRNO_ENOMEM 12
#define ERRNO_EINVAL 22
#define ERRNO_ENOSYS 38

/* ---- Exit codes. ----------------------------------------------------------------------------- */

/* Guest exit codes 0..GUEST_EXIT_MAX are the app's own; the runtime uses GUEST_EXIT_PANIC when a
 * trap nobody handles arrives (on QEMU the process exits with it). */
#define GUEST_EXIT_MAX 63
#define GUEST_EXIT_PANIC 63
/* The S-mode runtime (--firmware opensbi) exits with this after one console line when the SBI
 * firmware does not implement an extension it called (guest/lib/rt/README.md, "SBI"). */
#define GUEST_EXIT_NO_SBI 62

/* The emulator's own exit statuses, distinct from every guest code. */
#define EMU_STATUS_BAD_INPUT 64
#define EMU_STATUS_FAULT 65
#define EMU_STATUS_BUDGET 66
#define EMU_STATUS_DEADLOCK 67
#define EMU_STATUS_VIOLATION 68
#define EMU_STATUS_GUEST_CODE_RANGE 69
#define EMU_STATUS_INTERNAL 70

#endif /* CONTRACT_H */
