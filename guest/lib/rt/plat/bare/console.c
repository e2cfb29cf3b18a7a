/* The console on the 16550 UART. The lock makes each console_write one unbroken run of bytes. */
#include <contract.h>
#include <rt/console.h>
#include <rt/lock.h>
#include <rt/mmio.h>

static spinlock_t console_lock = SPINLOCK_INIT;

static void uart_putc(char c) {
    while (!(mmio_read8(UART_BASE + UART_LSR) & UART_LSR_THRE))
        ;
    mmio_write8(UART_BASE + UART_THR, (unsigned char)c);
}

static void uart_write(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        uart_putc(s[i]);
}

void console_write(const char *s, size_t n) {
    spin_lock(&console_lock);
    uart_write(s, n);
    spin_unlock(&console_lock);
}

void console_write_emergency(const char *s, size_t n) {
    /* The lock may be held by this very hart (a fault inside console_write), so give up on it
     * after a while rather than deadlock; a garbled line beats no line. */
    int locked = 0;
    for (int tries = 0; tries < 100000 && !locked; tries++)
        locked = spin_trylock(&console_lock);
    uart_write(s, n);
    if (locked)
        spin_unlock(&console_lock);
}
