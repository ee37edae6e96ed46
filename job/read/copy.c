#include "read/copy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/half.h"

/* Type OIDs of the array elements an embedding may hold. */
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define UUID_BYTES 16
/* Signature, flags and the extension area's length. */
#define HEADER_BYTES 19
/* A plan selects at most id, score, variance, category and embedding. */
#define TUPLE_FIELDS_MAX 8
/* ndim, has-nulls flag, element type, then one dimension's length and lower bound. */
#define ARRAY_HEADER_BYTES 20
/* pgvector's send format: uint16 dimension, uint16 unused (always 0). */
#define PGVECTOR_HEADER_BYTES 4

static const char signature[11] = "PGCOPY\n\377\r\n\0";

struct CopyParser {
    Images *images;
    StreamOptions options;
    int column_count;
    bool has_score, has_variance, has_category, has_embedding;
    bool id_uuid;                 /* ids arrive as 16-byte binary uuids */
    bool count_filtered;          /* the last field marks rows the filters drop */
    bool header_done, trailer_seen;
    bool bytea_checked;           /* the first bytea embedding was checked for vector_send */
    char *pending;                /* bytes of an incomplete tuple */
    size_t pending_length, pending_capacity;
    uint64_t offset;              /* bytes consumed, for messages */
    float *scratch;               /* one embedding row, when images keeps none */
    size_t scratch_dim;
    StreamStats stats;
};

/* Where one tuple's fields lie in the bytes; a NULL field has length -1. */
typedef struct {
    const unsigned char *start;
    int16_t count;                /* -1: the end marker */
    const unsigned char *field[TUPLE_FIELDS_MAX];
    int32_t length[TUPLE_FIELDS_MAX];
} Tuple;

/* One row's columns before the embedding, decoded and ready to store. */
typedef struct {
    const char *id;
    size_t id_length;
    double score, variance;       /* NaN when NULL or not selected */
    const char *label;
    size_t label_length;
} Row;

/* Outcome of decoding one embedding field into its slot. */
typedef enum { EMB_OK, EMB_BAD, EMB_DIM } EmbeddingOutcome;

/* How an embedding field's elements are encoded. */
typedef enum {
    ELEMENTS_BYTEA,         /* packed little-endian float32 */
    ELEMENTS_BYTEA_FLOAT16, /* packed little-endian float16 */
    ELEMENTS_FLOAT4,        /* array elements: int32 length 4, big-endian float32 */
    ELEMENTS_FLOAT8,        /* array elements: int32 length 8, big-endian float64 */
    ELEMENTS_VECTOR,        /* packed big-endian float32 (pgvector's vector) */
    ELEMENTS_HALFVEC,       /* packed big-endian float16 (pgvector's halfvec) */
} ElementKind;

/* An embedding field's elements, located and checked, not yet converted. */
typedef struct {
    ElementKind kind;
    const unsigned char *first;
    size_t count;                 /* 0: the field holds no usable embedding */
} Elements;

const char *stream_reject_name(RejectReason reason)
{
    static const char *const names[REJECT_REASON_COUNT] = {
        "null_id", "null_score", "nonfinite_score", "null_category",
        "null_embedding", "bad_embedding", "dim_mismatch", "duplicate_id",
        "id_too_long", "category_too_long",
    };
    return reason < REJECT_REASON_COUNT ? names[reason] : "unknown";
}

static uint32_t read_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint16_t read_u16(const unsigned char *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static double read_f8(const unsigned char *p)
{
    uint64_t bits = (uint64_t)read_u32(p) << 32 | read_u32(p + 4);
    double value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static float read_f4(const unsigned char *p)
{
    uint32_t bits = read_u32(p);
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/* A bounded read's scratch row: images keeps no embeddings, on_row gets them. */
static int scratch_row(CopyParser *parser, const StreamOptions *options, Error *err)
{
    if (options->embedding_dim == 0 || options->on_row == NULL)
        return error_set(err, ERR_INTERNAL, "streaming embeddings without keeping them "
                                            "needs a pinned dimension and a row callback");
    parser->scratch_dim = options->embedding_dim;
    parser->scratch = malloc(options->embedding_dim * sizeof(float));
    if (parser->scratch == NULL)
        return error_nomem(err, options->embedding_dim * sizeof(float));
    return ERR_OK;
}

int copy_parser_new(const Plan *plan, const StreamOptions *options, Images *images,
                    CopyParser **out, Error *err)
{
    CopyParser *parser = calloc(1, sizeof *parser);
    int code = ERR_OK;
    if (parser == NULL)
        return error_nomem(err, sizeof *parser);
    parser->images = images;
    parser->options = *options;
    parser->count_filtered = options->count_filtered;
    parser->column_count = plan->column_count + (options->count_filtered ? 1 : 0);
    parser->has_score = plan->has_score;
    parser->has_variance = plan->has_variance;
    parser->has_category = plan->has_category;
    parser->has_embedding = plan->has_embedding;
    parser->id_uuid = plan->id_uuid;
    if (plan->id_uuid && (code = images_use_uuid_ids(images, err)) != ERR_OK)
        goto done;
    if (plan->has_embedding && !images->has_embedding)
        code = scratch_row(parser, options, err);
    else if (options->embedding_dim > 0)
        code = images_set_dim(images, options->embedding_dim, err);
done:
    if (code != ERR_OK) {
        copy_parser_free(parser);
        return code;
    }
    *out = parser;
    return ERR_OK;
}

void copy_parser_free(CopyParser *parser)
{
    if (parser == NULL)
        return;
    free(parser->scratch);
    free(parser->pending);
    free(parser);
}

const StreamStats *copy_parser_stats(const CopyParser *parser)
{
    return &parser->stats;
}

static int malformed(const CopyParser *parser, size_t at, const char *what, Error *err)
{
    return error_set(err, ERR_DATA, "malformed COPY data at byte %llu: %s",
                     (unsigned long long)(parser->offset + at), what);
}

/* The id as text for messages and rejects: uuids formatted, text as it is. */
static const char *id_text(const CopyParser *parser, const char *id, size_t *id_length,
                           char *buffer)
{
    if (!parser->id_uuid || id == NULL || *id_length != UUID_BYTES)
        return id;
    images_format_uuid((const unsigned char *)id, buffer);
    *id_length = strlen(buffer);
    return buffer;
}

static void reject(CopyParser *parser, const char *id, size_t id_length, RejectReason reason)
{
    char text[40];
    parser->stats.rejected[reason]++;
    if (parser->options.on_reject != NULL) {
        id = id_text(parser, id, &id_length, text);
        parser->options.on_reject(parser->options.reject_context, id, id_length, reason);
    }
}

bool copy_bytea_is_pgvector_send(const unsigned char *p, size_t length, size_t *dim)
{
    if (length < PGVECTOR_HEADER_BYTES + 2)
        return false;
    size_t declared = read_u16(p);
    *dim = declared;
    return declared > 0 && p[2] == 0 && p[3] == 0
           && (length - PGVECTOR_HEADER_BYTES == 4 * declared
               || length - PGVECTOR_HEADER_BYTES == 2 * declared);
}

int copy_pgvector_send_error(size_t dim, Error *err)
{
    return error_set(err, ERR_CONFIG,
                     "source.embedding is a bytea holding pgvector's binary send format (a "
                     "%zu-dimensional vector_send or halfvec_send), not packed floats"
                     "\nHINT: name the vector or halfvec column itself (embedding: COLUMN); "
                     "pairpick reads pgvector's types directly",
                     dim);
}

/*
 * A bytea of packed float32s (or float16s); a length that is not a
 * multiple of the value's size holds none. The first one is checked for
 * pgvector's send format: read as floats it would give a vector one or
 * two longer than the real one, its first values garbage.
 */
static int bytea_elements(CopyParser *parser, const unsigned char *p, size_t length,
                          Elements *elements, Error *err)
{
    size_t size = parser->options.embedding_format == EMBEDDING_BYTEA_FLOAT16 ? 2 : 4;
    size_t dim;
    if (!parser->bytea_checked) {
        parser->bytea_checked = true;
        if (copy_bytea_is_pgvector_send(p, length, &dim))
            return copy_pgvector_send_error(dim, err);
    }
    elements->kind = size == 2 ? ELEMENTS_BYTEA_FLOAT16 : ELEMENTS_BYTEA;
    elements->first = p;
    elements->count = length % size == 0 ? length / size : 0;
    return ERR_OK;
}

/*
 * pgvector's vector or halfvec in its binary send format: a uint16
 * dimension, a uint16 that is always 0, then dim big-endian values of
 * element_size bytes, which must fill the field exactly. A dimension of 0
 * is no embedding (a bad row).
 */
static int pgvector_elements(const CopyParser *parser, const unsigned char *p, size_t length,
                             size_t at, ElementKind kind, Elements *elements, Error *err)
{
    size_t element_size = kind == ELEMENTS_HALFVEC ? 2 : 4;
    if (length < PGVECTOR_HEADER_BYTES)
        return malformed(parser, at, "vector header too short", err);
    size_t dim = read_u16(p);
    if (read_u16(p + 2) != 0)
        return malformed(parser, at, "vector with a nonzero unused field", err);
    if (length - PGVECTOR_HEADER_BYTES != dim * element_size)
        return malformed(parser, at, "vector length unlike its dimension", err);
    elements->kind = kind;
    elements->first = p + PGVECTOR_HEADER_BYTES;
    elements->count = dim;
    return ERR_OK;
}

/*
 * Walks an array's count elements of element_size bytes each, (int32
 * length, bytes) with NULL as length -1: each must lie inside the field
 * and the last must end it.
 */
static int walk_array(const CopyParser *parser, const unsigned char *q, const unsigned char *end,
                      size_t at, size_t count, size_t element_size, bool *has_null, Error *err)
{
    for (size_t i = 0; i < count; i++) {
        if ((size_t)(end - q) < 4)
            return malformed(parser, at, "array element past its field", err);
        int32_t element_length = (int32_t)read_u32(q);
        q += 4;
        if (element_length == -1) {
            *has_null = true;
            continue;
        }
        if (element_length != (int32_t)element_size || (size_t)(end - q) < element_size)
            return malformed(parser, at, "array element of a wrong size", err);
        q += element_size;
    }
    if (q != end)
        return malformed(parser, at, "bytes after the array's elements", err);
    return ERR_OK;
}

/*
 * A real[] or float8[] in the binary array format. Empty, multi-dimensional
 * or holding a NULL element, it is no embedding (count 0: a bad row); a
 * structure that does not fit its field is ERR_DATA. The structure is
 * checked whole first, so a NULL element makes a bad row, not damage.
 */
static int array_elements(const CopyParser *parser, const unsigned char *p, size_t length,
                          size_t at, Elements *elements, Error *err)
{
    if (length < 12)
        return malformed(parser, at, "array header too short", err);
    uint32_t ndim = read_u32(p);
    uint32_t element_oid = read_u32(p + 8);
    if (element_oid != OID_FLOAT4 && element_oid != OID_FLOAT8)
        return malformed(parser, at, "array of an unexpected element type", err);
    if (ndim != 1)
        return ndim > 6 ? malformed(parser, at, "array with too many dimensions", err) : ERR_OK;
    if (length < ARRAY_HEADER_BYTES)
        return malformed(parser, at, "array header too short", err);
    size_t count = read_u32(p + 12);
    if (count > (length - ARRAY_HEADER_BYTES) / 4)
        return malformed(parser, at, "array longer than its field", err);
    elements->kind = element_oid == OID_FLOAT4 ? ELEMENTS_FLOAT4 : ELEMENTS_FLOAT8;
    elements->first = p + ARRAY_HEADER_BYTES;
    bool has_null = false;
    int code = walk_array(parser, elements->first, p + length, at, count,
                          elements->kind == ELEMENTS_FLOAT4 ? 4 : 8, &has_null, err);
    if (code == ERR_OK && !has_null)
        elements->count = count;
    return code;
}

/* Converts checked elements (no NULL among them) into out[0..count). */
static void convert_elements(const Elements *elements, float *out)
{
    const unsigned char *e = elements->first;
    switch (elements->kind) {
    case ELEMENTS_BYTEA:
        for (size_t i = 0; i < elements->count; i++) {
            uint32_t bits = (uint32_t)e[4 * i] | (uint32_t)e[4 * i + 1] << 8
                            | (uint32_t)e[4 * i + 2] << 16 | (uint32_t)e[4 * i + 3] << 24;
            memcpy(&out[i], &bits, sizeof bits);
        }
        break;
    case ELEMENTS_BYTEA_FLOAT16:
        half_decode(e, elements->count, HALF_LITTLE_ENDIAN, out);
        break;
    case ELEMENTS_FLOAT4:
        for (size_t i = 0; i < elements->count; i++)
            out[i] = read_f4(e + 8 * i + 4);
        break;
    case ELEMENTS_FLOAT8:
        for (size_t i = 0; i < elements->count; i++)
            out[i] = (float)read_f8(e + 12 * i + 4);
        break;
    case ELEMENTS_VECTOR:
        for (size_t i = 0; i < elements->count; i++)
            out[i] = read_f4(e + 4 * i);
        break;
    case ELEMENTS_HALFVEC:
        half_decode(e, elements->count, HALF_BIG_ENDIAN, out);
        break;
    }
}

static bool all_finite(const float *values, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite(values[i]))
            return false;
    return true;
}

/*
 * Decodes an embedding field of `length` bytes at p into slot (dim floats;
 * when dim is 0 the first usable row sets it, slot then comes back new).
 * Returns ERR_OK with *outcome set, or ERR_DATA for structural damage.
 */
static int decode_embedding(CopyParser *parser, const unsigned char *p, size_t length, size_t at,
                            float **slot, EmbeddingOutcome *outcome, Error *err)
{
    Elements elements = {ELEMENTS_BYTEA, p, 0};
    int code = ERR_OK;
    *outcome = EMB_BAD;
    switch (parser->options.embedding_format) {
    case EMBEDDING_BYTEA:
    case EMBEDDING_BYTEA_FLOAT16:
        code = bytea_elements(parser, p, length, &elements, err);
        break;
    case EMBEDDING_VECTOR:
        code = pgvector_elements(parser, p, length, at, ELEMENTS_VECTOR, &elements, err);
        break;
    case EMBEDDING_HALFVEC:
        code = pgvector_elements(parser, p, length, at, ELEMENTS_HALFVEC, &elements, err);
        break;
    case EMBEDDING_ARRAY:
        code = array_elements(parser, p, length, at, &elements, err);
        break;
    }
    if (code != ERR_OK || elements.count == 0)
        return code;
    size_t dim = parser->scratch != NULL ? parser->scratch_dim : parser->images->dim;
    if (dim == 0) {
        if ((code = images_set_dim(parser->images, elements.count, err)) != ERR_OK
            || (code = images_begin_row(parser->images, slot, err)) != ERR_OK)
            return code;
        dim = elements.count;
    }
    if (elements.count != dim) {
        *outcome = EMB_DIM;
        return ERR_OK;
    }
    convert_elements(&elements, *slot);
    *outcome = all_finite(*slot, elements.count) ? EMB_OK : EMB_BAD;
    return ERR_OK;
}

/*
 * Finds the fields of the tuple at data[0..length) without decoding them,
 * so an incomplete tuple costs nothing. *used is the tuple's size (2 for
 * the end marker), or 0 when more bytes are needed.
 */
static int locate_tuple(const CopyParser *parser, const unsigned char *data, size_t length,
                        Tuple *tuple, size_t *used, Error *err)
{
    *used = 0;
    if (length < 2)
        return ERR_OK;
    const unsigned char *p = data + 2;
    const unsigned char *end = data + length;
    tuple->start = data;
    tuple->count = (int16_t)read_u16(data);
    if (tuple->count == -1) {
        *used = 2;
        return ERR_OK;
    }
    if (tuple->count != parser->column_count)
        return malformed(parser, 0, "tuple with an unexpected number of fields", err);
    for (int f = 0; f < tuple->count; f++) {
        if (end - p < 4)
            return ERR_OK;
        tuple->length[f] = (int32_t)read_u32(p);
        p += 4;
        tuple->field[f] = p;
        if (tuple->length[f] == -1)
            continue;
        if (tuple->length[f] < 0)
            return malformed(parser, (size_t)(p - data) - 4, "negative field length", err);
        if ((size_t)(end - p) < (size_t)tuple->length[f])
            return ERR_OK;
        p += tuple->length[f];
    }
    *used = (size_t)(p - data);
    return ERR_OK;
}

/* Offset of field f from its tuple's start, for messages. */
static size_t field_at(const Tuple *tuple, int f)
{
    return (size_t)(tuple->field[f] - tuple->start);
}

/* A float8 field into *value (left as it is when NULL); another size is damage. */
static int float8_field(const CopyParser *parser, const Tuple *tuple, int f, double *value,
                        Error *err)
{
    if (tuple->length[f] == 8)
        *value = read_f8(tuple->field[f]);
    else if (tuple->length[f] != -1)
        return malformed(parser, field_at(tuple, f), "float8 field of a wrong size", err);
    return ERR_OK;
}

/* A required score: NULL, or NaN or infinite, rejects the row. */
static bool score_usable(CopyParser *parser, const Row *row, bool null)
{
    if (null || !isfinite(row->score)) {
        reject(parser, row->id, row->id_length, null ? REJECT_NULL_SCORE : REJECT_NONFINITE_SCORE);
        return false;
    }
    return true;
}

/*
 * Decodes id, score, variance and category, in that order, into row.
 * *kept is false when the row was rejected for one of them; *next is the
 * field after them (the embedding's).
 */
static int take_columns(CopyParser *parser, const Tuple *tuple, Row *row, int *next, bool *kept,
                        Error *err)
{
    int f = 1, code;
    *kept = false;
    if (tuple->length[0] == -1) {
        reject(parser, NULL, 0, REJECT_NULL_ID);
        return ERR_OK;
    }
    row->id = (const char *)tuple->field[0];
    row->id_length = (size_t)tuple->length[0];
    if (parser->id_uuid && row->id_length != UUID_BYTES)
        return malformed(parser, field_at(tuple, 0), "uuid field of a wrong size", err);
    if (row->id_length > COPY_ID_MAX_BYTES) {
        reject(parser, row->id, row->id_length, REJECT_ID_TOO_LONG);
        return ERR_OK;
    }
    if (parser->has_score) {
        if ((code = float8_field(parser, tuple, f, &row->score, err)) != ERR_OK)
            return code;
        if (parser->options.score_required && !score_usable(parser, row, tuple->length[f] == -1))
            return ERR_OK;
        f++;
    }
    if (parser->has_variance
        && (code = float8_field(parser, tuple, f++, &row->variance, err)) != ERR_OK)
        return code;
    if (parser->has_category) {
        if (tuple->length[f] == -1) {
            reject(parser, row->id, row->id_length, REJECT_NULL_CATEGORY);
            return ERR_OK;
        }
        if ((size_t)tuple->length[f] > COPY_CATEGORY_MAX_BYTES) {
            reject(parser, row->id, row->id_length, REJECT_CATEGORY_TOO_LONG);
            return ERR_OK;
        }
        row->label = (const char *)tuple->field[f];
        row->label_length = (size_t)tuple->length[f++];
    }
    *next = f;
    *kept = true;
    return ERR_OK;
}

/* A dimension mismatch when on_bad_row is error: the run stops on it. */
static int dim_mismatch_error(const CopyParser *parser, const Row *row, Error *err)
{
    char text[40];
    size_t text_length = row->id_length;
    const char *shown = id_text(parser, row->id, &text_length, text);
    return error_set(err, ERR_DATA,
                     "image \"%.*s\" has an embedding of a dimension other than %zu"
                     "\nHINT: set source.on_bad_row: skip to skip such rows",
                     (int)(text_length > 200 ? 200 : text_length), shown,
                     parser->scratch != NULL ? parser->scratch_dim : parser->images->dim);
}

/*
 * Decodes field f, the embedding, into *slot. *kept is false when the row
 * was rejected for it (NULL, bad, or of another dimension).
 */
static int take_embedding(CopyParser *parser, const Tuple *tuple, int f, const Row *row,
                          float **slot, bool *kept, Error *err)
{
    EmbeddingOutcome outcome = EMB_BAD;
    *kept = false;
    if (tuple->length[f] == -1) {
        reject(parser, row->id, row->id_length, REJECT_NULL_EMBEDDING);
        return ERR_OK;
    }
    int code = decode_embedding(parser, tuple->field[f], (size_t)tuple->length[f],
                                field_at(tuple, f), slot, &outcome, err);
    if (code != ERR_OK)
        return code;
    if (outcome == EMB_DIM && parser->options.dim_mismatch_is_error)
        return dim_mismatch_error(parser, row, err);
    if (outcome != EMB_OK) {
        reject(parser, row->id, row->id_length,
               outcome == EMB_DIM ? REJECT_DIM_MISMATCH : REJECT_BAD_EMBEDDING);
        return ERR_OK;
    }
    *kept = true;
    return ERR_OK;
}

/*
 * A usable row: committed to images (a second copy of an id is rejected)
 * and handed to the row sink with its index; a lookup only hands it over.
 */
static int store_row(CopyParser *parser, const Row *row, const float *embedding, Error *err)
{
    const StreamOptions *options = &parser->options;
    if (options->lookup_only)
        return options->on_row(options->row_context, row->id, row->id_length, -1, embedding, err);
    int added = images_commit_row(parser->images, row->id, row->id_length, row->score,
                                  row->variance, row->label, row->label_length, err);
    if (added < 0)
        return err->code;
    if (added == 0) {
        reject(parser, row->id, row->id_length, REJECT_DUPLICATE_ID);
        return ERR_OK;
    }
    if (options->on_row != NULL)
        return options->on_row(options->row_context, row->id, row->id_length,
                               (int64_t)parser->images->count - 1, embedding, err);
    return ERR_OK;
}

/*
 * Parses one tuple at data[0..length). Returns ERR_OK and *used > 0 when a
 * whole tuple (or the trailer) was consumed, *used == 0 when more bytes are
 * needed, or an error.
 */
static int parse_tuple(CopyParser *parser, const unsigned char *data, size_t length,
                       size_t *used, Error *err)
{
    Tuple tuple;
    Row row = {NULL, 0, NAN, NAN, NULL, 0};
    int embedding_field = 0;
    bool kept = false;
    int code = locate_tuple(parser, data, length, &tuple, used, err);
    if (code != ERR_OK || *used == 0)
        return code;
    if (tuple.count == -1) {
        parser->trailer_seen = true;
        return ERR_OK;
    }
    if (parser->count_filtered && tuple.length[tuple.count - 1] != -1) {
        parser->stats.filtered_out++;
        return ERR_OK;
    }
    parser->stats.rows_read++;
    if ((code = take_columns(parser, &tuple, &row, &embedding_field, &kept, err)) != ERR_OK
        || !kept)
        return code;
    /* The row's slot in the matrix, or the scratch row when images keeps none. */
    float *slot = parser->scratch;
    if (!parser->options.lookup_only
        && (code = images_begin_row(parser->images, parser->scratch != NULL ? NULL : &slot, err))
               != ERR_OK)
        return code;
    if (parser->has_embedding
        && ((code = take_embedding(parser, &tuple, embedding_field, &row, &slot, &kept, err))
                != ERR_OK
            || !kept))
        return code;
    return store_row(parser, &row, slot, err);
}

/*
 * The fixed header: signature, flags (bits 16-31 are critical flags such
 * as WITH OIDS, which we cannot read) and an extension area, skipped.
 * *used is 0 until all of it is there.
 */
static int parse_header(const CopyParser *parser, const unsigned char *data, size_t length,
                        size_t *used, Error *err)
{
    *used = 0;
    if (length < HEADER_BYTES)
        return ERR_OK;
    if (memcmp(data, signature, sizeof signature) != 0)
        return malformed(parser, 0, "not a binary COPY stream (bad signature)", err);
    if (read_u32(data + 11) & 0xFFFF0000u)
        return malformed(parser, 11, "unsupported header flags", err);
    uint32_t extension = read_u32(data + 15);
    if (extension > length - HEADER_BYTES)
        return extension > (1u << 20) ? malformed(parser, 15, "header extension too long", err)
                                      : ERR_OK;
    *used = HEADER_BYTES + extension;
    return ERR_OK;
}

/* Parses as much of data as forms whole units; *consumed is how much that was. */
static int parse_buffer(CopyParser *parser, const unsigned char *data, size_t length,
                        size_t *consumed, Error *err)
{
    size_t at = 0;
    int code;
    *consumed = 0;
    if (!parser->header_done) {
        if ((code = parse_header(parser, data, length, &at, err)) != ERR_OK || at == 0)
            return code;
        parser->header_done = true;
        parser->offset += at;
    }
    while (at < length) {
        if (parser->trailer_seen)
            return malformed(parser, at, "data after the end marker", err);
        size_t used;
        if ((code = parse_tuple(parser, data + at, length - at, &used, err)) != ERR_OK)
            return code;
        if (used == 0)
            break;
        at += used;
        parser->offset += used;
    }
    *consumed = at;
    return ERR_OK;
}

/* Appends bytes to the incomplete tuple held back from earlier chunks. */
static int hold_back(CopyParser *parser, const unsigned char *bytes, size_t length, Error *err)
{
    if (parser->pending_length + length > parser->pending_capacity) {
        size_t capacity = (parser->pending_length + length) * 2;
        char *grown = realloc(parser->pending, capacity);
        if (grown == NULL)
            return error_nomem(err, capacity);
        parser->pending = grown;
        parser->pending_capacity = capacity;
    }
    memcpy(parser->pending + parser->pending_length, bytes, length);
    parser->pending_length += length;
    return ERR_OK;
}

int copy_parser_feed(CopyParser *parser, const char *data, size_t length, Error *err)
{
    const unsigned char *bytes = (const unsigned char *)data;
    size_t consumed;
    int code;

    parser->stats.bytes_read += length;
    if (parser->pending_length == 0) {
        /* The usual case: libpq hands over whole rows; parse in place. */
        code = parse_buffer(parser, bytes, length, &consumed, err);
        if (code != ERR_OK)
            return code;
        bytes += consumed;
        length -= consumed;
        if (length == 0)
            return ERR_OK;
    }
    if ((code = hold_back(parser, bytes, length, err)) != ERR_OK)
        return code;
    code = parse_buffer(parser, (const unsigned char *)parser->pending, parser->pending_length,
                        &consumed, err);
    if (code != ERR_OK)
        return code;
    memmove(parser->pending, parser->pending + consumed, parser->pending_length - consumed);
    parser->pending_length -= consumed;
    return ERR_OK;
}

int copy_parser_finish(CopyParser *parser, Error *err)
{
    if (!parser->header_done)
        return malformed(parser, 0, "stream ended before its header", err);
    if (parser->pending_length > 0)
        return malformed(parser, 0, "stream ended inside a tuple", err);
    if (!parser->trailer_seen)
        return malformed(parser, 0, "stream ended without its end marker", err);
    return ERR_OK;
}

/* A duplicate id found when a deferred read is indexed: rejected like any. */
static void duplicate_found(void *context, const char *id, size_t id_length)
{
    reject(context, id, id_length, REJECT_DUPLICATE_ID);
}

int copy_parser_index_ids(CopyParser *parser, Error *err)
{
    return images_index_ids(parser->images, duplicate_found, parser, err);
}
