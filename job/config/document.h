/*
 * document: the types the config modules share about the file being read:
 * a 1-based position (Mark), the tree of YAML nodes (Node) and the document
 * (Document: its bytes, its name in messages, where errors go).
 *
 * Types only; tree.h builds the tree, message.h words errors about it.
 */
#ifndef PAIRPICK_CONFIG_DOCUMENT_H
#define PAIRPICK_CONFIG_DOCUMENT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

typedef struct {
    size_t line, column; /* 1-based */
} Mark;

typedef enum { NODE_SCALAR, NODE_SEQUENCE, NODE_MAPPING } NodeKind;

typedef struct Node {
    NodeKind kind;
    Mark mark;
    char *value; /* scalars: NUL-terminated; quoted escapes may also put NULs inside */
    size_t length;
    bool plain;             /* unquoted: only plain scalars can be null or numbers */
    struct Node **children; /* sequences: the items; mappings: key, value, key, value ... */
    size_t count, capacity;
} Node;

/* The file being read: its bytes, its name in messages, where errors go. */
typedef struct {
    const char *name;
    const char *text;
    size_t length;
    Error *err;
} Document;

#endif
