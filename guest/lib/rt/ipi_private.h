/* Runtime-private: acknowledging an IPI, which the trap path shares with the platform's ipi.c. */
#ifndef RUNTIME_IPI_PRIVATE_H
#define RUNTIME_IPI_PRIVATE_H

#include <stdbool.h>

/* Lower this hart's software interrupt (CLINT msip, or sip.SSIP under SBI firmware); true if it
 * was raised. */
bool ipi_ack(void);

#endif /* RUNTIME_IPI_PRIVATE_H */
