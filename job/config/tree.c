/*
 * tree: libyaml's event stream into our own nodes (see tree.h).
 *
 * libyaml's marks are 0-based; ours are 1-based, as editors count. Its
 * reader errors give a byte offset instead of a mark: mark_at_offset turns
 * that into a line and column the same way libyaml counts (characters).
 */
#include "config/tree.h"
#include "config/message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

/* The nodes read so far, and the open collections new nodes go into. */
typedef struct {
    const Document *doc;
    Node *stack[TREE_MAX_DEPTH];
    size_t depth;
    Node *root;
    int documents;
    bool finished; /* the stream has ended */
} Builder;

static Mark mark_of(yaml_mark_t mark)
{
    return (Mark){mark.line + 1, mark.column + 1};
}

void tree_free(Node *node)
{
    if (node == NULL)
        return;
    for (size_t i = 0; i < node->count; i++)
        tree_free(node->children[i]);
    free(node->children);
    free(node->value);
    free(node);
}

bool tree_is_null(const Node *node)
{
    if (node->kind != NODE_SCALAR || !node->plain)
        return false;
    const char *v = node->value;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0
           || strcmp(v, "NULL") == 0;
}

/* ---- libyaml's failures ------------------------------------------------ */

/* The 1-based position of a byte offset (libyaml's reader errors give offsets). */
static Mark mark_at_offset(const Document *doc, size_t offset)
{
    Mark at = {1, 1};
    if (offset > doc->length)
        offset = doc->length;
    for (size_t i = 0; i < offset; i++) {
        unsigned char c = (unsigned char)doc->text[i];
        if (c == '\n') {
            at.line++;
            at.column = 1;
        } else if ((c & 0xC0) != 0x80) { /* libyaml counts characters, not bytes */
            at.column++;
        }
    }
    return at;
}

/* Whether the indentation of a 1-based line holds a tab. */
static bool line_indented_with_tab(const Document *doc, size_t line)
{
    size_t i = 0;
    for (size_t current = 1; current < line && i < doc->length; i++)
        if (doc->text[i] == '\n')
            current++;
    for (; i < doc->length && (doc->text[i] == ' ' || doc->text[i] == '\t'); i++)
        if (doc->text[i] == '\t')
            return true;
    return false;
}

/* Whether the text starts with a UTF-16 byte order mark. */
static bool looks_like_utf16(const Document *doc)
{
    const unsigned char *bytes = (const unsigned char *)doc->text;
    return doc->length >= 2 && (bytes[0] == 0xFF || bytes[0] == 0xFE)
           && (bytes[1] == 0xFE || bytes[1] == 0xFF);
}

/* Bytes that are not UTF-8 text: where, which byte, and what to do. */
static int fail_encoding(const Document *doc, const yaml_parser_t *parser, const char *problem)
{
    Mark at = mark_at_offset(doc, parser->problem_offset);
    const char *hint = looks_like_utf16(doc) ? "the file looks like UTF-16; save it as UTF-8"
                                             : "save the file as UTF-8 text";
    char value[32] = "";
    if (parser->problem_value != -1)
        snprintf(value, sizeof value, " (0x%02X)", (unsigned)parser->problem_value);
    if (strstr(problem, "control character") != NULL)
        return message_fail(doc, at, NULL, hint,
                            "the file contains a control character%s, expected UTF-8 text", value);
    return message_fail(doc, at, NULL, hint,
                        "the file is not valid UTF-8: %s%s, expected UTF-8 text", problem, value);
}

/* A syntax error in libyaml's words, with a hint when tabs indent the lines. */
static int fail_syntax(const Document *doc, const yaml_parser_t *parser, const char *problem)
{
    Mark at = mark_of(parser->problem_mark);
    Mark context_at = mark_of(parser->context_mark);
    const char *hint = NULL;
    if (line_indented_with_tab(doc, at.line)
        || (parser->context != NULL && line_indented_with_tab(doc, context_at.line)))
        hint = "indent with spaces: YAML does not allow tabs in indentation";
    if (parser->context != NULL)
        return message_fail(doc, at, NULL, hint, "invalid YAML: %s (%s at %zu:%zu)", problem,
                            parser->context, context_at.line, context_at.column);
    return message_fail(doc, at, NULL, hint, "invalid YAML: %s", problem);
}

/* libyaml's failure, with its own words and position, made readable. */
static int fail_yaml(const Document *doc, const yaml_parser_t *parser)
{
    const char *problem = parser->problem != NULL ? parser->problem : "unknown problem";
    if (parser->error == YAML_MEMORY_ERROR)
        return error_set(doc->err, ERR_INTERNAL, "%s: out of memory while parsing YAML", doc->name);
    if (parser->error == YAML_READER_ERROR)
        return fail_encoding(doc, parser, problem);
    return fail_syntax(doc, parser, problem);
}

/* ---- events into nodes ------------------------------------------------- */

static int node_append(const Document *doc, Node *parent, Node *child)
{
    if (parent->count == parent->capacity) {
        size_t capacity = parent->capacity == 0 ? 8 : parent->capacity * 2;
        Node **children = realloc(parent->children, capacity * sizeof *children);
        if (children == NULL)
            return error_nomem(doc->err, capacity * sizeof *children);
        parent->children = children;
        parent->capacity = capacity;
    }
    parent->children[parent->count++] = child;
    return ERR_OK;
}

/* A new node for a scalar or collection-start event; on failure the caller frees *out. */
static int node_new(const Document *doc, const yaml_event_t *event, NodeKind kind, Node **out)
{
    Node *node = calloc(1, sizeof *node);
    *out = node;
    if (node == NULL)
        return error_nomem(doc->err, sizeof *node);
    node->kind = kind;
    node->mark = mark_of(event->start_mark);
    if (kind != NODE_SCALAR)
        return ERR_OK;
    node->length = event->data.scalar.length;
    node->plain = event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    node->value = malloc(node->length + 1);
    if (node->value == NULL)
        return error_nomem(doc->err, node->length + 1);
    memcpy(node->value, event->data.scalar.value, node->length);
    node->value[node->length] = '\0';
    return ERR_OK;
}

/* Adds a node under the innermost open collection, or as the root. */
static int add_node(Builder *builder, const yaml_event_t *event, NodeKind kind,
                    const yaml_char_t *tag)
{
    Mark at = mark_of(event->start_mark);
    if (tag != NULL)
        return message_fail(builder->doc, at, NULL,
                            "remove the tag; quote a value to make it a string",
                            "tags are not supported (%s)", (const char *)tag);
    if (kind != NODE_SCALAR && builder->depth == TREE_MAX_DEPTH)
        return message_fail(builder->doc, at, NULL, NULL,
                            "nesting is too deep, expected at most %d levels", TREE_MAX_DEPTH);

    Node *node = NULL;
    int code = node_new(builder->doc, event, kind, &node);
    if (code == ERR_OK && builder->depth > 0)
        code = node_append(builder->doc, builder->stack[builder->depth - 1], node);
    else if (code == ERR_OK)
        builder->root = node;
    if (code != ERR_OK) {
        tree_free(node);
        return code;
    }
    if (kind != NODE_SCALAR)
        builder->stack[builder->depth++] = node;
    return ERR_OK;
}

static int take_event(Builder *builder, const yaml_event_t *event)
{
    Mark at = mark_of(event->start_mark);
    switch (event->type) {
    case YAML_STREAM_END_EVENT:
        builder->finished = true;
        return ERR_OK;
    case YAML_DOCUMENT_START_EVENT:
        if (++builder->documents > 1)
            return message_fail(builder->doc, at, NULL, "keep one job per file",
                                "a second YAML document, expected one document");
        return ERR_OK;
    case YAML_ALIAS_EVENT:
        return message_fail(builder->doc, at, NULL, "write the value out again where it is needed",
                            "aliases are not supported (*%s)",
                            (const char *)event->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        return add_node(builder, event, NODE_SCALAR, event->data.scalar.tag);
    case YAML_SEQUENCE_START_EVENT:
        return add_node(builder, event, NODE_SEQUENCE, event->data.sequence_start.tag);
    case YAML_MAPPING_START_EVENT:
        return add_node(builder, event, NODE_MAPPING, event->data.mapping_start.tag);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        builder->depth--;
        return ERR_OK;
    default:
        return ERR_OK;
    }
}

/* Takes events until the stream ends or one is refused. */
static int build(Builder *builder, yaml_parser_t *parser)
{
    int code = ERR_OK;
    while (!builder->finished && code == ERR_OK) {
        yaml_event_t event;
        if (!yaml_parser_parse(parser, &event))
            return fail_yaml(builder->doc, parser);
        code = take_event(builder, &event);
        yaml_event_delete(&event);
    }
    return code;
}

int tree_read(const Document *doc, Node **out)
{
    /* A UTF-8 byte order mark is harmless but, with the encoding set rather
     * than detected, libyaml would count it as a column of the first line. */
    Document body = *doc;
    if (body.length >= 3 && memcmp(body.text, "\xEF\xBB\xBF", 3) == 0) {
        body.text += 3;
        body.length -= 3;
    }
    Builder builder = {.doc = &body};
    yaml_parser_t parser;

    *out = NULL;
    if (!yaml_parser_initialize(&parser))
        return error_nomem(doc->err, sizeof parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)body.text, body.length);
    /* Not auto-detected: a UTF-16 file is refused, with a hint, like any
     * other bytes that are not UTF-8. */
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    int code = build(&builder, &parser);
    yaml_parser_delete(&parser);
    if (code != ERR_OK) {
        tree_free(builder.root);
        return code;
    }
    *out = builder.root;
    return ERR_OK;
}

const char *tree_describe(const Node *node, char *buf)
{
    if (node->kind == NODE_MAPPING)
        return "a mapping";
    if (node->kind == NODE_SEQUENCE)
        return "a sequence";
    if (tree_is_null(node))
        return "an empty value";
    char inner[QUOTE_BUFFER];
    message_quote(inner, node->value, node->length);
    snprintf(buf, QUOTE_BUFFER + 2, "\"%s\"", inner);
    return buf;
}
