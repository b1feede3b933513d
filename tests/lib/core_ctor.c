/* core_ctor.c — a library that allocates in its constructor and frees in its destructor
 * (dlopen/dlclose under the preload). */
#include <stdlib.h>
#include <string.h>

static char *kept;
__attribute__((constructor)) static void ctor(void) { kept = malloc(1 << 20); memset(kept, 1, 1 << 20); }
__attribute__((destructor)) static void dtor(void) { free(kept); }
size_t core_ctor_size(void);
size_t core_ctor_size(void) { return kept ? 1 << 20 : 0; }
