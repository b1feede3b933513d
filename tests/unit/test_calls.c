/* test_calls.c — the two tables that name the malloc family agree: every allocating symbol of
 * backend/malloc.def (the symbols hooked and resolved) has its entry in base/calls.h (the
 * names refusals and `fail = calls=malloc` use), in the malloc family, and the other way
 * round; free and malloc_usable_size allocate nothing and have none.  The two are different
 * concepts (symbols with their types; what a report names, for every family) kept in
 * different layers (calls.h is base, below the backend), so this test is what keeps them one. */
#include <string.h>

#include "backend/backend.h"
#include "base/calls.h"
#include "t.h"

static const char *const defs[] = {
#define MF_HOOK(name, ret, params, req) #name,
#include "backend/malloc.def"
#undef MF_HOOK
};

static int is_call(const char *name, unsigned family)
{
    for (unsigned c = 0; c < MF_CALL_COUNT; c++)
        if (!strcmp(mf_call_name(c), name))
            return mf_call_family(c) == family;
    return 0;
}

static int in_defs(const char *name)
{
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        if (!strcmp(defs[i], name))
            return 1;
    return 0;
}

int main(void)
{
    int allocating = 0;
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        if (!strcmp(defs[i], "free") || !strcmp(defs[i], "malloc_usable_size")) {
            T_CHECK(!is_call(defs[i], MF_FAM_MALLOC));
            continue;
        }
        allocating++;
        if (!is_call(defs[i], MF_FAM_MALLOC))
            fprintf(stderr, "malloc.def: %s has no malloc-family entry in calls.h\n", defs[i]);
        T_CHECK(is_call(defs[i], MF_FAM_MALLOC));
    }
    T_EQ(allocating, 9);
    for (unsigned c = 0; c < MF_CALL_COUNT; c++)
        if (mf_call_family(c) == MF_FAM_MALLOC) {
            if (!in_defs(mf_call_name(c)))
                fprintf(stderr, "calls.h: %s is not in malloc.def\n", mf_call_name(c));
            T_CHECK(in_defs(mf_call_name(c)));
        }
    T_CHECK(!strcmp(mf_call_name(MF_CALL_COUNT), "?"));
    return t_done();
}
