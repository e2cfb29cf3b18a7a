/* Inter-processor interrupts through the CLINT msip registers. */
#ifndef RT_IPI_H
#define RT_IPI_H

#include <stdbool.h>

void ipi_send(unsigned hart);

/* Sleep with wfi until an IPI for this hart arrives, and consume it. With mstatus.MIE off the
 * msip bit is read and cleared here; with MIE on the trap path takes the interrupt (running the
 * registered IRQ_M_SOFT handler) and leaves a pending flag that this consumes. IPIs that arrive
 * before the wait are not lost; several of them may be consumed as one. */
void ipi_wait(void);

/* Consume a pending IPI without waiting; false if there was none. */
bool ipi_take(void);

#endif /* RT_IPI_H */
