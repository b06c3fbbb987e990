// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * inilines.c - the lines of an INI file as inih reads them (inilines.h).
 */
#include <string.h>
#include "util/inilines.h"

int pso_ini_read_line(FILE *f, char *str, int num, int *lineno, bool *indented,
		      char *section, size_t cap, bool *is_section)
{
	const char *s = str, *end;
	size_t len, n;

	*is_section = false;
	if (!fgets(str, num, f))
		return -1;
	++*lineno;
	*indented = str[0] == ' ' || str[0] == '\t';
	while (*s == ' ' || *s == '\t')
		s++;
	/* Without its ']' inih reports the line as a syntax error. */
	if (*s == '[' && (end = strchr(s + 1, ']')) && cap) {
		n = (size_t)(end - (s + 1));
		if (n >= cap)
			n = cap - 1;
		memcpy(section, s + 1, n);
		section[n] = '\0';
		*is_section = true;
	}
	len = strlen(str);
	return len && str[len - 1] != '\n' && !feof(f) ? 1 : 0;
}
