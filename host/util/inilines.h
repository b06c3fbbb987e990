/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * inilines.h - the lines of an INI file as inih reads them, for parsers that
 * feed inih through ini_parse_stream() with a reader of their own (settings
 * files, host/util/conf.c; NIC profiles, host/ctl/profile.c): inih asks the
 * reader for one line per iteration, so the reader's count is the line
 * each handler call is for, and every error can name FILE:LINE.
 */
#ifndef PSO_INILINES_H
#define PSO_INILINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * The next line of f into str (num bytes, as fgets), counted in *lineno.
 * *indented: it starts with a blank (inih takes such a line as the last
 * value's continuation).  *is_section: it is a section header, whose name
 * inih takes as the text between '[' and the first ']' (blanks included):
 * that text in section (cut to cap - 1).  inih reports a section only
 * through the keys under it, so a caller that wants to judge every header
 * (a misspelt one with no keys) does it here.  Returns 0, 1 when the line
 * did not fit in str (inih would read its rest as a line of its own), -1
 * at the end of the file.
 */
int pso_ini_read_line(FILE *f, char *str, int num, int *lineno, bool *indented,
		      char *section, size_t cap, bool *is_section);

#endif /* PSO_INILINES_H */
