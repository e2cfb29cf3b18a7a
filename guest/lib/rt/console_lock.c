/* The console lock, the same on every platform: it makes each console_write one unbroken run of
 * bytes on the device plat/<platform>/console.c drives. */
#include "console_private.h"

#include <rt/console.h>
#include <rt/lock.h>

static spinlock_t console_lock = SPINLOCK_INIT;

void console_write(const char *s, size_t n) {
    /* mutate: equivalent lock-nothing: this machine's UART keeps each hart's lines whole */
    spin_lock(&console_lock);
    console_device_write(s, n);
    spin_unlock(&console_lock);
}

void console_write_emergency(const char *s, size_t n) {
    /* The lock may be held by this very hart (a fault inside console_write), so give up on it
     * after a while rather than deadlock; a garbled line beats no line. */
    int locked = 0;
    for (int tries = 0; tries < 100000 && !locked; tries++)
        locked = spin_trylock(&console_lock);
    console_device_write(s, n);
    if (locked)
        /* mutate: equivalent unlock-nothing: runs only as the run ends (finisher_exit next) */
        spin_unlock(&console_lock);
}
