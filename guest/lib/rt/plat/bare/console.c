/* The console on the 16550 UART; console_lock.c serializes the harts' writes. */
#include "../../console_private.h"

#include <contract.h>
#include <rt/mmio.h>

static void uart_putc(char c) {
    while (!(mmio_read8(UART_BASE + UART_LSR) & UART_LSR_THRE))
        ;
    mmio_write8(UART_BASE + UART_THR, (unsigned char)c);
}

void console_device_write(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        uart_putc(s[i]);
}
