/* test_config_corpus.c — replays the fuzz seed corpus (tests/fuzz/corpus/{config,size}/) through
 * both fuzz targets without libFuzzer, so `make test` runs them (plain and under ASan+UBSan). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"

#define LLVMFuzzerTestOneInput fuzz_config_one
#include "../fuzz/fuzz_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_size_one
#include "../fuzz/fuzz_size.c"
#undef LLVMFuzzerTestOneInput

static int replay(const char *dir, int (*one)(const uint8_t *, size_t))
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", dir);
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        static uint8_t buf[1 << 20];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        /* an exact-size copy, so ASan sees any read past the end */
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, buf, len);
        T_EQ(one(copy, len), 0);
        free(copy);
        n++;
    }
    closedir(d);
    return n;
}

int main(void)
{
    const char *root = getenv("MF_ROOT");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/config", root ? root : ".");
    int n = replay(dir, fuzz_config_one);
    T_CHECK(n >= 5);
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/size", root ? root : ".");
    int m = replay(dir, fuzz_size_one);
    T_CHECK(m >= 10);
    fprintf(stderr, "replayed %d config and %d size inputs\n", n, m);
    return t_done();
}
