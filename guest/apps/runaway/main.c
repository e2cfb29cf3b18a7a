/* Never finishes: hart 0 spins forever (the other harts return and park), so only an external
 * limit such as the emulator's instruction budget ends the run. */
#include <rt/runtime.h>

static volatile unsigned long spins;

int app_main(unsigned hart, unsigned nharts) {
    (void)nharts;
    if (hart != 0)
        return 0;
    printf("runaway: hart 0 spinning forever\n");
    for (;;)
        spins++;
}
