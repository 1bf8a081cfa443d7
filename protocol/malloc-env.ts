/**
 * The C library settings a process that moves large values runs with: the worker's Node process
 * (set by the images and by the local server that starts it) and its Python child (set by the
 * engine). glibc reads them when a process starts, so they travel as environment variables.
 *
 * - `MALLOC_MMAP_THRESHOLD_`: glibc raises its mmap threshold after each large free, up to
 *   32 MB, and then keeps freed multi-MB value buffers in the heap instead of returning them to
 *   the system. A fixed threshold at the blob threshold (1 MB) gives a finished call's memory back.
 * - `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`: malloc asks for transparent huge pages (madvise) on
 *   what it maps, so a large value's fresh buffer is faulted in 2 MB at a time rather than 4 KB.
 *   Where first touching memory is slow (page faults in a VM), a 64 MB buffer costs about 20 ms
 *   this way instead of about 300 ms. Ignored by kernels with huge pages off.
 *
 * A value the environment already has wins: a user's choice is kept.
 */

export const MMAP_THRESHOLD_BYTES = "1048576";
export const HUGE_PAGE_TUNABLE = "glibc.malloc.hugetlb=1";

/** GLIBC_TUNABLES with the huge page tunable added, unless it already sets hugetlb. */
export function withHugePageTunable(current: string | undefined): string {
  if (!current) return HUGE_PAGE_TUNABLE;
  if (/(^|:)glibc\.malloc\.hugetlb=/.test(current)) return current;
  return `${current}:${HUGE_PAGE_TUNABLE}`;
}

/** The two variables for a process started from `env`. */
export function largeValueMallocEnv(env: NodeJS.ProcessEnv): { MALLOC_MMAP_THRESHOLD_: string; GLIBC_TUNABLES: string } {
  return {
    MALLOC_MMAP_THRESHOLD_: env.MALLOC_MMAP_THRESHOLD_ || MMAP_THRESHOLD_BYTES,
    GLIBC_TUNABLES: withHugePageTunable(env.GLIBC_TUNABLES),
  };
}
