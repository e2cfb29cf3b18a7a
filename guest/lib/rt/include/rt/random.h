/*
 * A small pseudo-random sequence for apps that spread their choices (which slot, which size):
 * Marsaglia's xorshift64, one word of state per user, seeded with anything but 0.
 */
#ifndef RT_RANDOM_H
#define RT_RANDOM_H

static inline unsigned long rt_xorshift64(unsigned long *state) {
    unsigned long x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

#endif /* RT_RANDOM_H */
