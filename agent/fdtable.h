/*
 * fdtable: keeps the agent threads' descriptors out of the program's reach, and the
 * program's out of theirs.
 *
 * A program may close every descriptor it did not open and open its own files under the
 * freed numbers at any moment (daemons do, often just after a fork, as the agent starts in
 * the child). A descriptor an agent thread holds for a moment (a /proc listing) could then
 * be closed under it and its number given to one of the program's files, which the agent
 * would go on to close or write to. So each agent thread works in a descriptor table of its
 * own, which the program's opens and closes do not touch. Called from the agent's own
 * threads (sampler, writer) only; not async-signal-safe.
 */
#ifndef PYI_AGENT_FDTABLE_H
#define PYI_AGENT_FDTABLE_H

/*
 * Gives the calling thread a descriptor table of its own, holding only keep_fd (when >= 0)
 * at the same number, as a copy of the program's descriptor. 0, or -errno when the kernel
 * refuses (a seccomp filter, say): the thread then still shares the program's table.
 */
int pyi_fdtable_go_private(int keep_fd);

/*
 * Writes text to the program's standard error as it is now. private_table: the calling
 * thread went private (above), so its own descriptor 2 is no longer the program's; the text
 * then goes through a copy of the program's descriptor 2 (pidfd_getfd), or, where the
 * kernel has none to give, waits for pyi_fdtable_say_pending().
 */
void pyi_fdtable_say(int private_table, const char *text);

/* On a thread of the program: writes out what pyi_fdtable_say had to hold back. */
void pyi_fdtable_say_pending(void);

#endif
