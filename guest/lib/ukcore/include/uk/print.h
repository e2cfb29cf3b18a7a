/*
 * Unikraft's kernel messages, printed on the console with the level in front. Debug messages
 * cost nothing unless UK_DEBUG is defined (-D UK_DEBUG=1): a guest instruction spent printing
 * changes the schedule being tested.
 */
#ifndef UK_PRINT_H
#define UK_PRINT_H

#include <rt/printf.h>

#define uk_pr_crit(fmt, ...) printf("[CRIT] " fmt, ##__VA_ARGS__)
#define uk_pr_err(fmt, ...) printf("[ERR] " fmt, ##__VA_ARGS__)
#define uk_pr_warn(fmt, ...) printf("[WARN] " fmt, ##__VA_ARGS__)
#define uk_pr_info(fmt, ...) printf("[INFO] " fmt, ##__VA_ARGS__)
#define uk_printk(lvl, fmt, ...) printf(fmt, ##__VA_ARGS__)
#ifdef UK_DEBUG
#define uk_pr_debug(fmt, ...) printf("[DEBUG] " fmt, ##__VA_ARGS__)
#define uk_printd(fmt, ...) printf(fmt, ##__VA_ARGS__)
#else
#define uk_pr_debug(fmt, ...)                                                                      \
    do {                                                                                           \
        if (0)                                                                                     \
            printf(fmt, ##__VA_ARGS__);                                                            \
    } while (0)
#define uk_printd(fmt, ...) uk_pr_debug(fmt, ##__VA_ARGS__)
#endif

#endif /* UK_PRINT_H */
