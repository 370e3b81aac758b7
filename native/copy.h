/* Copying a directory tree between two open directories: the tmpcopyup
 * mount option (a tmpfs that starts with what the image had there). */
#ifndef PYRUNC_COPY_H
#define PYRUNC_COPY_H

#include "error.h"

/* Copy everything in src_dir into dst_dir: directories, regular files,
 * symlinks, with their modes and owners.  Never follows a symlink. */
int pyrunc_copy_tree(int src_dir, int dst_dir, struct pyrunc_error *err);

#endif
