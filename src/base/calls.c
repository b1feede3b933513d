/* calls.c — names and families of the allocation calls (the table is in calls.h). */
#include "base/calls.h"

static const struct { const char *name; unsigned family; } calls[MF_CALL_COUNT] = {
#define MF_CALL_INFO(id, name, fam) { name, MF_FAM_##fam },
    MF_CALLS(MF_CALL_INFO)
#undef MF_CALL_INFO
};

const char *mf_call_name(unsigned call) { return call < MF_CALL_COUNT ? calls[call].name : "?"; }
unsigned mf_call_family(unsigned call) { return call < MF_CALL_COUNT ? calls[call].family : 0; }
