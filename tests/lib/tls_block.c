/* tls_block.c — a library with thread-local variables, for tests/progs/core_tls.c: opened with
 * dlopen, its block of each thread is allocated by the dynamic loader, through malloc, when the
 * thread first touches it. */
static __thread char block[64 << 10];

int tls_block_touch(int v)
{
    block[v & 0xffff] = (char)v;
    return block[0] + (int)sizeof block;
}
