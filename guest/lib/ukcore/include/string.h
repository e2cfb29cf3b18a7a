/* The C library's <string.h>, as far as the runtime has it (rt/string.h). */
#ifndef UK_STRING_H
#define UK_STRING_H

#include <rt/string.h>

#endif /* UK_STRING_H */
