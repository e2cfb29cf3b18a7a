/*
 * Ending the run. exit() is the exit system call: it writes the test finisher (code 0 passes,
 * anything else fails with that code) and the hart then parks in `1: wfi; j 1b` for good.
 */
#ifndef RT_EXIT_H
#define RT_EXIT_H

/* Codes outside 0..GUEST_EXIT_MAX become GUEST_EXIT_MAX so they never look like an emulator
 * status. Ends the whole machine, whichever hart calls it. */
__attribute__((noreturn)) void exit(int code);

#endif /* RT_EXIT_H */
