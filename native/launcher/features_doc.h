/* `features` answered in C: runtime/features.py's document, its static
 * lists from the header setup.py generates from the Python tables
 * (features_header_source), its probes those of the Python path.
 * (Not features.h: with native/launcher on the include path, as the C
 * tests have it, that name would stand for glibc's <features.h>.) */
#ifndef PYRUNC_LAUNCHER_FEATURES_DOC_H
#define PYRUNC_LAUNCHER_FEATURES_DOC_H

#include "json.h"

/* The document as runtime/cli/features.py prints it, final newline
 * included, into out: 0, FAST_DEFER (status.h) or -errno. */
int features_document(struct buf *out);

#endif
