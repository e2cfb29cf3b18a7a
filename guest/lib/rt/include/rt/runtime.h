/*
 * Everything an app needs. An app defines app_main; the runtime calls it on every hart after
 * boot, all harts starting together.
 */
#ifndef RT_RUNTIME_H
#define RT_RUNTIME_H

#include <contract.h>
#include <rt/barrier.h>
#include <rt/console.h>
#include <rt/csr.h>
#include <rt/exit.h>
#include <rt/hart.h>
#include <rt/ipi.h>
#include <rt/irq.h>
#include <rt/lock.h>
#include <rt/mmio.h>
#include <rt/panic.h>
#include <rt/printf.h>
#include <rt/random.h>
#include <rt/string.h>
#include <rt/syscall.h>
#include <rt/time.h>
#include <rt/trap.h>

/* Runs on each of the nharts harts. When all have returned, hart 0 exits with 0 if every hart
 * returned 0, else with the first nonzero result in hart order (0..GUEST_EXIT_MAX). */
int app_main(unsigned hart, unsigned nharts);

#endif /* RT_RUNTIME_H */
