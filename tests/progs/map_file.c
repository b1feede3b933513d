/* map_file.c PATH SIZE_MIB — makes a sparse file of SIZE_MIB and maps it read-only, shared.
 * Exit 0 and "mapped" when the mapping succeeds, 3 and "refused: ENOMEM" when it fails with
 * ENOMEM, 1 otherwise.  The pre-flight check's line is memfence's, on stderr. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    size_t size = (size_t)atoll(argv[2]) << 20;
    int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
        perror("file");
        return 1;
    }
    void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        printf("refused: %s\n", errno == ENOMEM ? "ENOMEM" : "other");
        return errno == ENOMEM ? 3 : 1;
    }
    volatile char c = ((char *)p)[size - 1];
    (void)c;
    munmap(p, size);
    printf("mapped\n");
    return 0;
}
