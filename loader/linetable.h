/*
 * linetable: maps an instruction offset to a source line, for each CPython line-table
 * encoding (cpython-frames.md §4.2). Pure functions over a copied table: no allocation,
 * async-signal-safe, usable from any thread and from the report.
 */
#ifndef PYI_LINETABLE_H
#define PYI_LINETABLE_H

#include <stddef.h>

#include "loader/loader.h"

/*
 * The line executing at instr (unit per enum pyi_linetable_kind). instr < 0 gives first_line.
 * Returns -1 where the table says the instruction has no line, or past the table's end.
 * Gives the same answer as the interpreter's PyCode_Addr2Line for every offset.
 */
int pyi_linetable_line(enum pyi_linetable_kind kind, const unsigned char *table, size_t len,
		       int first_line, int instr);

#endif
