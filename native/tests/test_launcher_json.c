/* The launcher's JSON reader (native/launcher/json.c) reads what pyrunc's
 * writer produces and refuses, rather than guesses at, everything else;
 * its writers write what runtime/jsonio.py dumps writes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "json.h"

static int parse(const char *text, struct json_doc *doc)
{
    static char copy[4096];

    json_free(doc);
    strcpy(copy, text);
    return json_parse(doc, copy, strlen(copy));
}

int main(void)
{
    struct json_doc doc = { 0 };
    const struct json_node *root, *v;
    struct buf out = { 0 };

    CHECK(parse("{\"pid\":42,\"pidStartTime\":null,\"bundle\":\"/b\\u00e9\\n\\\"\\/\",\"neg\":-0,"
                "\"a\":{\"k\":[true,false,{}]},\"big\":18446744073709551615}", &doc) == 0);
    root = &doc.nodes[0];
    CHECK(json_uint_in(json_get(&doc, root, "pid"), 42, 42));
    CHECK(json_get(&doc, root, "pidStartTime")->type == JSON_NULL);
    v = json_get(&doc, root, "bundle");
    CHECK(json_is_string(v) && v->len == 7 && strcmp(v->str, "/b\xc3\xa9\n\"/") == 0);
    CHECK(json_uint_in(json_get(&doc, root, "neg"), 0, 0) && !json_truthy(json_get(&doc, root, "neg")));
    CHECK(json_uint_in(json_get(&doc, root, "big"), UINT64_MAX, UINT64_MAX));
    CHECK(json_truthy(json_get(&doc, root, "a")) && !json_get(&doc, root, "missing"));

    /* Refused: floats, surrogate and NUL escapes, raw control characters,
     * bad UTF-8, duplicate keys, trailing data, overflow, deep nesting. */
    static const char *const refused[] = {
        "1.0", "1e3", "\"\\ud800\"", "\"\\u0000\"", "\"a\tb\"", "\"\xc3\"", "\"\xed\xa0\x80\"",
        "\"\xc0\xaf\"", "{\"a\":1,\"a\":2}", "{} x", "18446744073709551616", "01", "[1,]", "{\"a\"}",
        "\"\\x\"", "tru", "", "\xef\xbb\xbf{}",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++)
        CHECK(parse(refused[i], &doc) < 0);
    char deep[256] = "";
    for (int i = 0; i < 100; i++)
        strcat(deep, "[");
    CHECK(parse(deep, &doc) < 0);

    /* Written as Python's json.dumps(ensure_ascii=False). */
    CHECK(buf_add_json_string(&out, "q\"\\\n\r\t\b\f\x01\x7f\xc3\xa9", 12) == 0);
    CHECK(strcmp(out.data, "\"q\\\"\\\\\\n\\r\\t\\b\\f\\u0001\x7f\xc3\xa9\"") == 0);
    free(out.data);

    /* Written as runtime/jsonio.py dumps(indent=2): {} and [] when empty. */
    struct buf pretty = { 0 };
    struct json_writer w = { .out = &pretty, .indent = 2 };
    json_write_open(&w, NULL, '{');
    json_write_open(&w, "a", '[');
    json_write_close(&w);
    json_write_open(&w, "b", '{');
    json_write_close(&w);
    json_write_open(&w, "c", '[');
    json_write_string(&w, NULL, "x");
    json_write_open(&w, NULL, '{');
    json_write_bool(&w, "k\"", false);
    json_write_close(&w);
    json_write_close(&w);
    json_write_bool(&w, "d", true);
    CHECK(json_write_close(&w) == 0 && w.depth == 0);
    CHECK(strcmp(pretty.data, "{\n  \"a\": [],\n  \"b\": {},\n  \"c\": [\n    \"x\",\n    {\n"
                 "      \"k\\\"\": false\n    }\n  ],\n  \"d\": true\n}") == 0);
    /* A failure sticks: nothing more is written. */
    CHECK(json_write_close(&w) == -EINVAL && json_write_bool(&w, NULL, true) == -EINVAL);
    free(pretty.data);
    json_free(&doc);
    return 0;
}
