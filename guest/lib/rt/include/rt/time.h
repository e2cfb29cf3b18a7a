/*
 * Time: only CLINT mtime (MTIME_HZ ticks per second). rdtime, rdcycle and rdinstret are never
 * used: on the emulator they trap or return host time.
 */
#ifndef RT_TIME_H
#define RT_TIME_H

#include <stdint.h>

uint64_t mtime_read(void);

/* This hart's mtimecmp; UINT64_MAX means "never". */
void mtimecmp_write(uint64_t when);

/* Sleep with wfi until mtime >= deadline. Uses this hart's mtimecmp and leaves it at UINT64_MAX.
 * Works with mstatus.MIE off (wfi wakes on the enabled-in-mie timer) or on (the trap path takes
 * the interrupt and its registered handler, if any, runs). */
void time_wait_until(uint64_t deadline);
void time_wait_ticks(uint64_t ticks);

#endif /* RT_TIME_H */
