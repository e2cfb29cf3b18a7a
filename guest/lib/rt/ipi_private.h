/* Runtime-private: the raw msip access the trap path and boot share with ipi.c. */
#ifndef RUNTIME_IPI_PRIVATE_H
#define RUNTIME_IPI_PRIVATE_H

#include <stdbool.h>

/* Clear this hart's msip; true if it was set. */
bool ipi_take_msip(void);

#endif /* RUNTIME_IPI_PRIVATE_H */
