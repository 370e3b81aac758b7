/* See json.h: the subset of JSON pyrunc's own writer produces. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define MAX_DEPTH 60            /* below jsonio's 64 */
#define MAX_NUMBER_CHARS 20     /* a uint64 */

struct parser {
    struct json_doc *doc;
    char *p, *end;
};

static int new_node(struct json_doc *doc, enum json_type type)
{
    if (doc->count == doc->capacity) {
        int capacity = doc->capacity ? doc->capacity * 2 : 64;
        struct json_node *nodes = realloc(doc->nodes, (size_t)capacity * sizeof(*nodes));
        if (!nodes)
            return -ENOMEM;
        doc->nodes = nodes;
        doc->capacity = capacity;
    }
    doc->nodes[doc->count] = (struct json_node){ .type = type, .next = JSON_NONE, .child = JSON_NONE };
    return doc->count++;
}

static void skip_space(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int hex4(const char *p)
{
    int value = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (digit < 0)
            return -EINVAL;
        value = value * 16 + digit;
    }
    return value;
}

/* The length of the UTF-8 sequence at p (strict: no overlong form, no
 * surrogate, nothing above U+10FFFF), or -EINVAL. */
static int utf8_length(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    int n;
    unsigned min;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, min = 0x80, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, min = 0x800, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, min = 0x10000, cp = c & 0x07;
    else
        return -EINVAL;
    if (end - p < n)
        return -EINVAL;
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return -EINVAL;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return -EINVAL;
    return n;
}

/* A string at ps->p (just after its opening quote), decoded in place. */
static int parse_string(struct parser *ps, const char **out, size_t *out_len)
{
    char *start = ps->p, *w = ps->p;

    while (ps->p < ps->end) {
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            *w = '\0';      /* over the quote or an escape's leftovers */
            ps->p++;
            *out = start;
            *out_len = (size_t)(w - start);
            return 0;
        }
        if (c < 0x20)
            return -EINVAL;
        if (c != '\\') {
            int n = utf8_length((const unsigned char *)ps->p, (const unsigned char *)ps->end);
            if (n < 0)
                return n;
            memmove(w, ps->p, (size_t)n);
            w += n;
            ps->p += n;
            continue;
        }
        if (ps->end - ps->p < 2)
            return -EINVAL;
        char e = ps->p[1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char decoded[] = "\"\\/\b\f\n\r\t";
            *w++ = decoded[simple - "\"\\/bfnrt"];
            ps->p += 2;
            continue;
        }
        if (e != 'u' || ps->end - ps->p < 6)
            return -EINVAL;
        int cp = hex4(ps->p + 2);
        /* No NUL (paths), no surrogate (jsonio refuses lone ones). */
        if (cp <= 0 || (cp >= 0xd800 && cp <= 0xdfff))
            return -EINVAL;
        if (cp < 0x80) {
            *w++ = (char)cp;
        } else if (cp < 0x800) {
            *w++ = (char)(0xc0 | cp >> 6);
            *w++ = (char)(0x80 | (cp & 0x3f));
        } else {
            *w++ = (char)(0xe0 | cp >> 12);
            *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
            *w++ = (char)(0x80 | (cp & 0x3f));
        }
        ps->p += 6;
    }
    return -EINVAL;
}

static int parse_int(struct parser *ps, struct json_node *node)
{
    const char *start = ps->p;
    uint64_t value = 0;

    if (*ps->p == '-')
        ps->p++;
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
        return -EINVAL;
    if (*ps->p == '0' && ps->p + 1 < ps->end && ps->p[1] >= '0' && ps->p[1] <= '9')
        return -EINVAL;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        unsigned digit = (unsigned)(*ps->p - '0');
        if (ps->p - start >= MAX_NUMBER_CHARS || value > (UINT64_MAX - digit) / 10)
            return -EINVAL;
        value = value * 10 + digit;
        ps->p++;
    }
    /* A fraction or an exponent: a float, which no field we read is. */
    if (ps->p < ps->end && (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E'))
        return -EINVAL;
    node->magnitude = value;
    node->negative = *start == '-' && value != 0;
    return 0;
}

static int parse_value(struct parser *ps, int depth);

/* The members (object) or elements (array) of node `index`, after its
 * opening bracket. */
static int parse_container(struct parser *ps, int index, int depth, bool object)
{
    char close = object ? '}' : ']';
    int last = JSON_NONE;

    skip_space(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 0;
    }
    for (;;) {
        const char *key = NULL;
        size_t key_len = 0;
        if (object) {
            skip_space(ps);
            if (ps->p >= ps->end || *ps->p != '"')
                return -EINVAL;
            ps->p++;
            int ret = parse_string(ps, &key, &key_len);
            if (ret < 0)
                return ret;
            for (int i = ps->doc->nodes[index].child; i != JSON_NONE; i = ps->doc->nodes[i].next)
                if (strcmp(ps->doc->nodes[i].key, key) == 0)
                    return -EINVAL;     /* a duplicate key */
            skip_space(ps);
            if (ps->p >= ps->end || *ps->p != ':')
                return -EINVAL;
            ps->p++;
        }
        int child = parse_value(ps, depth + 1);
        if (child < 0)
            return child;
        ps->doc->nodes[child].key = key;
        if (last == JSON_NONE)
            ps->doc->nodes[index].child = child;
        else
            ps->doc->nodes[last].next = child;
        last = child;
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return 0;
        }
        return -EINVAL;
    }
}

static bool literal(struct parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return false;
    ps->p += n;
    return true;
}

/* The index of the value at ps->p, or -errno. */
static int parse_value(struct parser *ps, int depth)
{
    int index, ret;

    if (depth > MAX_DEPTH)
        return -EINVAL;
    skip_space(ps);
    if (ps->p >= ps->end)
        return -EINVAL;
    switch (*ps->p) {
    case '{':
    case '[':
        index = new_node(ps->doc, *ps->p == '{' ? JSON_OBJECT : JSON_ARRAY);
        if (index < 0)
            return index;
        ret = parse_container(ps, index, depth, *ps->p++ == '{');
        return ret < 0 ? ret : index;
    case '"':
        index = new_node(ps->doc, JSON_STRING);
        if (index < 0)
            return index;
        ps->p++;
        ret = parse_string(ps, &ps->doc->nodes[index].str, &ps->doc->nodes[index].len);
        return ret < 0 ? ret : index;
    case 't':
        return literal(ps, "true") ? new_node(ps->doc, JSON_TRUE) : -EINVAL;
    case 'f':
        return literal(ps, "false") ? new_node(ps->doc, JSON_FALSE) : -EINVAL;
    case 'n':
        return literal(ps, "null") ? new_node(ps->doc, JSON_NULL) : -EINVAL;
    default:
        index = new_node(ps->doc, JSON_INT);
        if (index < 0)
            return index;
        ret = parse_int(ps, &ps->doc->nodes[index]);
        return ret < 0 ? ret : index;
    }
}

int json_parse(struct json_doc *doc, char *text, size_t len)
{
    struct parser ps = { .doc = doc, .p = text, .end = text + len };
    int root = parse_value(&ps, 1);

    if (root < 0)
        return root;
    skip_space(&ps);
    return ps.p == ps.end ? 0 : -EINVAL;
}

void json_free(struct json_doc *doc)
{
    free(doc->nodes);
    doc->nodes = NULL;
    doc->count = doc->capacity = 0;
}

const struct json_node *json_first(const struct json_doc *doc, const struct json_node *node)
{
    return node->child == JSON_NONE ? NULL : &doc->nodes[node->child];
}

const struct json_node *json_next(const struct json_doc *doc, const struct json_node *node)
{
    return node->next == JSON_NONE ? NULL : &doc->nodes[node->next];
}

const struct json_node *json_get(const struct json_doc *doc, const struct json_node *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    for (const struct json_node *m = json_first(doc, obj); m; m = json_next(doc, m))
        if (strcmp(m->key, key) == 0)
            return m;
    return NULL;
}

bool json_truthy(const struct json_node *node)
{
    switch (node->type) {
    case JSON_NULL:
    case JSON_FALSE:
        return false;
    case JSON_TRUE:
        return true;
    case JSON_INT:
        return node->magnitude != 0;
    case JSON_STRING:
        return node->len != 0;
    default:
        return node->child != JSON_NONE;
    }
}

bool json_uint_in(const struct json_node *node, uint64_t low, uint64_t high)
{
    return node && node->type == JSON_INT && !node->negative && node->magnitude >= low && node->magnitude <= high;
}

bool json_is_string(const struct json_node *node)
{
    return node && node->type == JSON_STRING;
}

int buf_add(struct buf *buf, const char *data, size_t len)
{
    if (buf->len + len + 1 > buf->capacity) {
        size_t capacity = (buf->len + len + 1) * 2;
        char *data_new = realloc(buf->data, capacity);
        if (!data_new)
            return -ENOMEM;
        buf->data = data_new;
        buf->capacity = capacity;
    }
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
    return 0;
}

int buf_adds(struct buf *buf, const char *text)
{
    return buf_add(buf, text, strlen(text));
}

int buf_addu(struct buf *buf, uint64_t value)
{
    char text[24];
    int n = snprintf(text, sizeof(text), "%llu", (unsigned long long)value);
    return buf_add(buf, text, (size_t)n);
}

int buf_add_json_string(struct buf *buf, const char *text, size_t len)
{
    int ret = buf_add(buf, "\"", 1);

    for (size_t i = 0; ret == 0 && i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        const char *escape = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                             : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
        char hex[8];
        if (escape) {
            ret = buf_adds(buf, escape);
        } else if (c < 0x20) {
            snprintf(hex, sizeof(hex), "\\u%04x", c);
            ret = buf_adds(buf, hex);
        } else {
            ret = buf_add(buf, (const char *)&c, 1);
        }
    }
    return ret < 0 ? ret : buf_add(buf, "\"", 1);
}

/* A new line at the current depth (jsonio's `"\n" + unit * depth`). */
static int newline(struct json_writer *w, int depth)
{
    int ret = buf_add(w->out, "\n", 1);

    for (int i = 0; ret == 0 && i < depth * w->indent; i++)
        ret = buf_add(w->out, " ", 1);
    return ret;
}

/* What precedes a value: in a container, the comma after its previous
 * member, the new line and the key. */
static int start_value(struct json_writer *w, const char *key)
{
    unsigned *count = w->depth ? &w->count[w->depth - 1] : NULL;

    if (w->ret || !count)
        return w->ret;
    if (*count && (w->ret = buf_add(w->out, ",", 1)) < 0)
        return w->ret;
    ++*count;
    if ((w->ret = newline(w, w->depth)) < 0 || !key)
        return w->ret;
    if ((w->ret = buf_add_json_string(w->out, key, strlen(key))) == 0)
        w->ret = buf_add(w->out, ": ", 2);
    return w->ret;
}

int json_write_open(struct json_writer *w, const char *key, char bracket)
{
    if (start_value(w, key) < 0)
        return w->ret;
    if (w->depth == JSON_WRITER_DEPTH)
        return w->ret = -E2BIG;
    w->count[w->depth] = 0;
    w->close[w->depth++] = bracket == '{' ? '}' : ']';
    return w->ret = buf_add(w->out, &bracket, 1);
}

int json_write_close(struct json_writer *w)
{
    if (w->ret)
        return w->ret;
    if (w->depth == 0)
        return w->ret = -EINVAL;
    w->depth--;
    /* A container with members closes on a line of its own; {} and [] do not. */
    if (w->count[w->depth] && (w->ret = newline(w, w->depth)) < 0)
        return w->ret;
    return w->ret = buf_add(w->out, &w->close[w->depth], 1);
}

int json_write_string(struct json_writer *w, const char *key, const char *value)
{
    if (start_value(w, key) < 0)
        return w->ret;
    return w->ret = buf_add_json_string(w->out, value, strlen(value));
}

int json_write_bool(struct json_writer *w, const char *key, bool value)
{
    if (start_value(w, key) < 0)
        return w->ret;
    return w->ret = buf_adds(w->out, value ? "true" : "false");
}
