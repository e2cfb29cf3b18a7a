/* Inter-processor interrupts: CLINT msip in M-mode, the SBI IPI extension and sip.SSIP under SBI
 * firmware (plat/<platform>/ipi.c); waiting for them is the same on both (ipi_wait.c). */
#ifndef RT_IPI_H
#define RT_IPI_H

#include <stdbool.h>

void ipi_send(unsigned hart);

/* Sleep with wfi until an IPI for this hart arrives, and consume it. With mstatus.MIE off the
 * msip bit is read and cleared here; with MIE on the trap path takes the interrupt (running the
 * registered IRQ_M_SOFT handler) and leaves a pending flag that this consumes. IPIs that arrive
 * before the wait are not lost; several of them may be consumed as one. */
void ipi_wait(void);

/* Consume a pending IPI without waiting; false if there was none. Safe with interrupts on: the
 * trap path may take the IPI at any instruction and set the pending flag, which is why the flag is
 * taken with an atomic exchange (a load then a store would wipe a flag set between the two, and
 * the IPI would be lost: wfi-ipi's storm checks for that). */
bool ipi_take(void);

#endif /* RT_IPI_H */
