/* A small strict JSON reader for the state files pyrunc writes itself, and
 * the writer helpers for what `state` and `list` print.
 *
 * The reader accepts a subset of what runtime/jsonio.py accepts: integers
 * only (no fraction or exponent), no \u escape of a surrogate, no NUL in a
 * string, no duplicate key, strict UTF-8, bounded depth.  Anything else is
 * -EINVAL, and the caller leaves the document to the Python CLI. */
#ifndef PYRUNC_LAUNCHER_JSON_H
#define PYRUNC_LAUNCHER_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_type { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_INT, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

#define JSON_NONE (-1)

struct json_node {
    enum json_type type;
    int next;           /* the next member or element, or JSON_NONE */
    int child;          /* the first member or element, or JSON_NONE */
    const char *key;    /* a member's key (NUL-terminated, no NUL inside) */
    const char *str;    /* a string's value (NUL-terminated, no NUL inside) */
    size_t len;         /* a string's length in bytes */
    uint64_t magnitude; /* an integer's absolute value */
    bool negative;      /* an integer below zero */
};

struct json_doc {
    struct json_node *nodes;
    int count, capacity;
};

/* Parse text (len bytes, NUL-terminated; decoded in place) into doc; the
 * root is node 0.  0, -EINVAL for anything outside the subset, -ENOMEM. */
int json_parse(struct json_doc *doc, char *text, size_t len);
void json_free(struct json_doc *doc);

/* The member `key` of object node `obj`, or NULL. */
const struct json_node *json_get(const struct json_doc *doc, const struct json_node *obj, const char *key);
const struct json_node *json_first(const struct json_doc *doc, const struct json_node *node);
const struct json_node *json_next(const struct json_doc *doc, const struct json_node *node);
/* Python's truth value of the node. */
bool json_truthy(const struct json_node *node);
/* An integer node in [low, high] (non-negative bounds). */
bool json_uint_in(const struct json_node *node, uint64_t low, uint64_t high);
bool json_is_string(const struct json_node *node);

/* A growing output buffer. */
struct buf {
    char *data;
    size_t len, capacity;
};

int buf_add(struct buf *buf, const char *data, size_t len);
int buf_adds(struct buf *buf, const char *text);
int buf_addu(struct buf *buf, uint64_t value);
/* A JSON string as Python's json.dumps(ensure_ascii=False) writes it. */
int buf_add_json_string(struct buf *buf, const char *text, size_t len);

/* A document written as runtime/jsonio.py dumps(value, indent=N) writes
 * it: each member or element on a line of its own, indented by its depth;
 * an empty object or array as {} or [].  Each call is a no-op once one
 * failed and returns that failure (-ENOMEM, or -E2BIG past
 * JSON_WRITER_DEPTH), so callers check the last one only. */
#define JSON_WRITER_DEPTH 16

struct json_writer {
    struct buf *out;
    int indent;                         /* spaces per level */
    int depth;                          /* containers open */
    unsigned count[JSON_WRITER_DEPTH];  /* members written in each */
    char close[JSON_WRITER_DEPTH];      /* and their closing brackets */
    int ret;
};

/* key names an object's member; NULL for an array's element (or the root). */
int json_write_open(struct json_writer *w, const char *key, char bracket);
int json_write_close(struct json_writer *w);
int json_write_string(struct json_writer *w, const char *key, const char *value);
int json_write_bool(struct json_writer *w, const char *key, bool value);

#endif
