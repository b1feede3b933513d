/* policy.c — decisions before an allocation reaches the backend (see policy.h). */
#include "policy.h"

_Atomic unsigned mf_policy_flags = MF_POLICY_NOT_READY;

int mf_policy_admit(unsigned call, unsigned pool, uint64_t req, const void *caller)
{
    unsigned f = atomic_load_explicit(&mf_policy_flags, memory_order_relaxed);
    if ((f & MF_POLICY_FAIL) && mf_fail_check(call, req, caller) != 0)
        return -12;  /* ENOMEM */
    if ((f & (MF_POLICY_REFUSE_LARGE | MF_POLICY_THROTTLE)) && mf_sampler_admit(call, pool, req) != 0)
        return -12;
    return 0;
}
