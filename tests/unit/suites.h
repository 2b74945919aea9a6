/* Every Check suite, one line each: the runner in main.c builds them all. */
SUITE(checksum)
