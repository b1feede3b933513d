/* profile_refuse — asks for more than the budget from a named function, so the refusal line's
 * backtrace can be checked: prints "refused" when malloc returned NULL. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) void *ask_too_much(size_t n)
{
    void *p = malloc(n);
    __asm__ volatile("" ::: "memory");   /* not a tail call: ask_too_much stays on the stack */
    return p;
}

int main(void)
{
    void *p = ask_too_much((size_t)1 << 30);
    printf("%s\n", p ? "granted" : "refused");
    free(p);
    return 0;
}
