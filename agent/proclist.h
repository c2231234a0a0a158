/*
 * proclist: the numbered entries of a /proc directory (/proc/self/task, a table's fd).
 *
 * Calls each() with every entry whose name is a number, in the order the kernel lists them,
 * reading with getdents64 into a buffer on the stack (no allocation, no stdio). each() may
 * close descriptors or open files meanwhile. Returns 0 once the listing is read to its end, or
 * -1 (errno set) if a read failed part way: the caller then knows only what it was given.
 */
#ifndef PYI_PROCLIST_H
#define PYI_PROCLIST_H

int pyi_proc_numbers(int dir, void (*each)(long number, void *ctx), void *ctx);

#endif
