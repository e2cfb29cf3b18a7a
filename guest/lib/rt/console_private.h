/* Runtime-private: the console device, which the platform's console.c drives and console_lock.c
 * serializes. */
#ifndef RUNTIME_CONSOLE_PRIVATE_H
#define RUNTIME_CONSOLE_PRIVATE_H

#include <stddef.h>

/* Write all n bytes to the console device, with no lock (the 16550 UART, or the SBI console). */
void console_device_write(const char *s, size_t n);

#endif /* RUNTIME_CONSOLE_PRIVATE_H */
