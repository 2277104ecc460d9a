/*
 * myelin.h — run Myelin models (.myelin bundles) from C and C++.
 *
 * The whole public surface of libmyelin: load a bundle exported by the Myelin trainer,
 * inspect it, and run batched inference (float32 or int8-quantized weights) of its graph:
 * any DAG of ops with one or several named inputs and outputs. The bundle format is
 * specified in docs/bundle-format.md.
 *
 * Inputs: what a model expects is in its bundle. Each graph input has a name, a dtype and
 * a per-sample shape (myelin_model_input_info); the metadata key "input.preprocessing"
 * says in words how raw data becomes that input (e.g. "pixels / 255: floats in [0, 1],
 * row-major [28, 28]"), and "class_labels" names the classes of output 0, separated by
 * '\n' (myelin_model_class_label splits them). Batches are row-major: sample after
 * sample, each sample's elements in row-major order of its per-sample shape.
 *
 * Threads: a model is immutable after loading and may be shared by any number of
 * threads. A context holds one thread's scratch memory: use each context from one
 * thread at a time (typically one context per thread). Contexts read their model, so
 * free them before the model.
 *
 * Errors: every fallible call returns a myelin_status; MYELIN_OK is 0. No call aborts
 * the process, whatever bytes it is given.
 *
 *     myelin_model *model;
 *     if (myelin_model_load_file("model.myelin", &model) != MYELIN_OK) ...
 *     myelin_context *ctx;
 *     myelin_context_create(model, 64, &ctx);
 *     myelin_run(ctx, images, 64, scores);  // images: 64 × input size, scores: 64 × output size
 *     myelin_context_free(ctx);
 *     myelin_model_free(model);
 *
 * Several inputs or outputs (arrays in graph order; see myelin_run_multi):
 *
 *     myelin_value_info info;
 *     size_t image, mask;
 *     myelin_model_find_input(model, "image", &image);     // index of an input by name
 *     myelin_model_find_input(model, "mask", &mask);
 *     myelin_model_input_info(model, image, &info);         // info.dtype, info.rank, info.dims, info.count
 *     const void *inputs[2];
 *     inputs[image] = images;                               // 64 × info.count floats
 *     inputs[mask] = masks;
 *     void *outputs[1] = {scores};
 *     myelin_run_multi(ctx, 64, inputs, outputs);
 */
#ifndef MYELIN_H
#define MYELIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MYELIN_VERSION_MAJOR 0
#define MYELIN_VERSION_MINOR 1
#define MYELIN_VERSION_PATCH 0
#define MYELIN_VERSION_STRING "0.1.0"
/* Major version of the bundle format this library reads. */
#define MYELIN_BUNDLE_VERSION_MAJOR 2
/* Largest per-sample rank of a graph input or output (the batch dimension comes on top). */
#define MYELIN_MAX_RANK 5

/* Result of every fallible call. */
typedef enum myelin_status {
    MYELIN_OK = 0,
    MYELIN_ERR_INVALID_ARGUMENT = 1,  /* NULL pointer, batch out of range, ... */
    MYELIN_ERR_IO = 2,                /* the file cannot be opened or read */
    MYELIN_ERR_NOT_A_BUNDLE = 3,      /* wrong magic number */
    MYELIN_ERR_UNSUPPORTED_VERSION = 4, /* bundle format major version not readable */
    MYELIN_ERR_CORRUPT = 5,           /* truncated or structurally invalid bundle */
    MYELIN_ERR_CHECKSUM = 6,          /* CRC-32 mismatch in the header or a section */
    MYELIN_ERR_UNSUPPORTED = 7,       /* unknown op, dtype, attribute or encoding */
    MYELIN_ERR_SHAPE_MISMATCH = 8,    /* operand shapes do not fit together */
    MYELIN_ERR_OUT_OF_MEMORY = 9,
    MYELIN_ERR_LIMIT_EXCEEDED = 10,   /* a size beyond the documented limits */
    MYELIN_ERR_NOT_FOUND = 11,        /* metadata key, index or self-test absent */
    MYELIN_ERR_SELFTEST_FAILED = 12   /* outputs differ from the stored expectations */
} myelin_status;

/* How a bundle stores its weights. Computation is float32 for F32 and F16 bundles and
 * int8 x int8 -> int32 for INT8 bundles. */
typedef enum myelin_precision {
    MYELIN_PRECISION_F32 = 1,
    MYELIN_PRECISION_F16 = 2,
    MYELIN_PRECISION_INT8 = 3
} myelin_precision;

/* Element types of graph values. myelin_run_multi takes and fills buffers of each value's
 * dtype: F32 float, U8 uint8_t, I32 int32_t (the others are reserved in the format). */
typedef enum myelin_dtype {
    MYELIN_DTYPE_F32 = 1,
    MYELIN_DTYPE_F16 = 2,
    MYELIN_DTYPE_I8 = 3,
    MYELIN_DTYPE_I32 = 4,
    MYELIN_DTYPE_U8 = 5,
    MYELIN_DTYPE_BF16 = 6
} myelin_dtype;

/* A graph input or output, as myelin_model_input_info / myelin_model_output_info describe it. */
typedef struct myelin_value_info {
    const char *name;               /* NUL-terminated, owned by the model */
    myelin_dtype dtype;
    size_t rank;                    /* per sample: 0 … MYELIN_MAX_RANK */
    int64_t dims[MYELIN_MAX_RANK];  /* per-sample dims[0 .. rank-1]; the rest 0 */
    size_t count;                   /* elements per sample (product of the dims; 1 for rank 0) */
    float scale;                    /* U8 and I8 values: real = scale · (q − zero_point); else 0 */
    int32_t zero_point;
} myelin_value_info;

/* A loaded model (opaque). Immutable; shareable between threads. */
typedef struct myelin_model myelin_model;
/* Per-thread scratch memory for running a model (opaque). */
typedef struct myelin_context myelin_context;

/* The library version, e.g. "0.1.0" (static storage; never NULL). */
const char *myelin_version(void);

/* A short English message for a status (static storage; never NULL). */
const char *myelin_status_string(myelin_status status);

/* ---- Loading ------------------------------------------------------------------------ */

/* Loads the bundle at `path`. On success stores a new model in *out_model (free it with
 * myelin_model_free); on failure stores NULL. The file must be a regular file: the header
 * (magic, version, declared file_size) is checked before the rest is mapped or read.
 * MYELIN_ERR_IO does not say which path or why: myelin_model_load_file_ex does. */
myelin_status myelin_model_load_file(const char *path, myelin_model **out_model);

/* Like myelin_model_load_file, and says why a load failed: writes a NUL-terminated English
 * message into message[0 .. capacity-1] (truncated to fit; nothing is written if `message`
 * is NULL or `capacity` is 0; an empty string on success). The message names the path and
 * the problem: the OS error for a file that cannot be opened or read (strerror, e.g.
 * "model.myelin: No such file or directory"), "PATH: not a regular file" for a FIFO,
 * directory or device (refused without blocking), else the bundle problem
 * ("PATH: corrupt bundle", "PATH: not a Myelin bundle", ...). 256 bytes plus the path's
 * length always suffice. */
myelin_status myelin_model_load_file_ex(const char *path, myelin_model **out_model, char *message, size_t capacity);

/* Loads a bundle from `size` bytes at `data`. The bytes are copied: the caller may free
 * or reuse `data` as soon as the call returns. On failure stores NULL in *out_model. */
myelin_status myelin_model_load_memory(const void *data, size_t size, myelin_model **out_model);

/* Caps the memory of each later load (myelin_model_load_file, _ex, _memory) and of each
 * context (myelin_context_create, and the temporary one of myelin_model_selftest) at
 * `bytes`; 0 removes the cap (the default). Returns the previous cap (0 for none).
 * Process-wide and not synchronised: set it before other threads call the library.
 *
 * The cap is checked before allocating, from sizes the bundle declares: a load or context
 * that would exceed it returns MYELIN_ERR_LIMIT_EXCEEDED having allocated nothing more.
 * What a load counts: the decoded sections (GRPH, DATA, META, TEST), the scratch of a
 * shuffled section while it decodes, the weights ops repack or widen at load (f16 or
 * row-major linear, row-major qlinear), and the model's copies of the metadata strings.
 * Not counted: the graph's bookkeeping (bounded by the caps on ops, values and tensors, a
 * few MiB at most) and short-lived conversion buffers. A context counts its arena
 * (myelin_context_arena_size), its stream state (myelin_context_state_size; sequence models),
 * 8 bytes per graph value and op, and for a streaming model a copy of the graph's value and
 * op records.
 *
 * Worst cases without a cap, for a file of F bytes (F ≤ 1 GiB): the decoded sections total
 * at most min(1 GiB, 16 · F + 256 KiB) (each at most 512 MiB: a deflated section declaring
 * more than 16 × its stored bytes + 64 KiB is refused with MYELIN_ERR_LIMIT_EXCEEDED before
 * anything is allocated), plus as much again for scratch and string copies; the repacked weights add at most about 2 × the weight's decoded bytes per
 * f16 or row-major linear weight and per row-major qlinear weight (ops sharing a weight
 * share its copy, however many); a conv2d weight is packed into panels of 8 output
 * channels at load, at most 2 × its f32 size (4 × its f16 size), and a convolution with whole
 * 32-channel blocks keeps a second, lane-ordered copy (as much again). All repacked weights
 * together are refused (MYELIN_ERR_LIMIT_EXCEEDED) past 5 × the decoded weights + 1 MiB.
 * A context's arena depends on the graph and
 * max_batch, not on F: ask myelin_context_arena_size first. */
size_t myelin_set_memory_budget(size_t bytes);

/* Frees a model and everything it owns, including strings returned by the introspection
 * calls. NULL is allowed. Free the model's contexts first. */
void myelin_model_free(myelin_model *model);

/* ---- Introspection (all safe to call from several threads at once) ------------------ */

/* Number of graph inputs and outputs (1 … 16 each; 0 if `model` is NULL). */
size_t myelin_model_input_count(const myelin_model *model);
size_t myelin_model_output_count(const myelin_model *model);

/* Describes graph input / output `index` (0-based, graph order) into *info. Returns
 * MYELIN_ERR_NOT_FOUND past the last one, MYELIN_ERR_INVALID_ARGUMENT for NULL pointers. */
myelin_status myelin_model_input_info(const myelin_model *model, size_t index, myelin_value_info *info);
myelin_status myelin_model_output_info(const myelin_model *model, size_t index, myelin_value_info *info);

/* The index of the graph input / output named `name` (names are unique among a model's
 * inputs and outputs). MYELIN_ERR_NOT_FOUND if there is none; *index is then untouched. */
myelin_status myelin_model_find_input(const myelin_model *model, const char *name, size_t *index);
myelin_status myelin_model_find_output(const myelin_model *model, const char *name, size_t *index);

/* Elements per sample of input 0 and of output 0 (0 if `model` is NULL). */
size_t myelin_model_input_size(const myelin_model *model);
size_t myelin_model_output_size(const myelin_model *model);

/* Per-sample shape of input 0 / output 0: writes the rank to *rank and the dims to
 * dims[0 .. rank-1]. `capacity` is the length of `dims`; if it is smaller than the rank,
 * *rank is still set and MYELIN_ERR_INVALID_ARGUMENT is returned. Ranks are at most
 * MYELIN_MAX_RANK. */
myelin_status myelin_model_input_shape(const myelin_model *model, int64_t *dims, size_t capacity, size_t *rank);
myelin_status myelin_model_output_shape(const myelin_model *model, int64_t *dims, size_t capacity, size_t *rank);

/* Number of classes of a classifier: the size per sample of output 0. */
size_t myelin_model_num_classes(const myelin_model *model);

/* The label of class `index` from the bundle's `class_labels` metadata, or NULL if the
 * bundle has none or `index` is out of range. Owned by the model. */
const char *myelin_model_class_label(const myelin_model *model, size_t index);

/* How the bundle stores its weights (0 if `model` is NULL). */
myelin_precision myelin_model_precision(const myelin_model *model);

/* Looks up a metadata value by key (e.g. "dataset", "test_accuracy",
 * "myelin.exporter"). On success *value points to a NUL-terminated string owned by the
 * model; MYELIN_ERR_NOT_FOUND if the key is absent (then *value is NULL). */
myelin_status myelin_model_metadata(const myelin_model *model, const char *key, const char **value);

/* Number of metadata entries, and entry `index` (0-based; MYELIN_ERR_NOT_FOUND past the
 * end). Strings are owned by the model. */
size_t myelin_model_metadata_count(const myelin_model *model);
myelin_status myelin_model_metadata_at(const myelin_model *model, size_t index, const char **key, const char **value);

/* Runs the self-test vectors stored in the bundle: MYELIN_OK if every output is within
 * the stored tolerance, MYELIN_ERR_SELFTEST_FAILED if not, MYELIN_ERR_NOT_FOUND if the
 * bundle has none. Allocates a temporary context; thread-safe. */
myelin_status myelin_model_selftest(const myelin_model *model);

/* ---- Running ------------------------------------------------------------------------ */

/* Bytes of the arena a context for `max_batch` samples allocates, without creating one
 * (to size memory up front). The arena holds every intermediate value, placed by a
 * liveness plan that reuses the memory of values no op reads any more, and the kernels'
 * scratch; graph inputs and outputs live in the caller's buffers. A large batch runs
 * through the graph a chunk of samples at a time (as many as keep the values within about
 * 1 MiB, at least one), and the arena is planned for one chunk: past that size it no longer
 * grows with max_batch. A context adds a few
 * hundred bytes of bookkeeping. MYELIN_ERR_INVALID_ARGUMENT for max_batch 0,
 * MYELIN_ERR_LIMIT_EXCEEDED above 1048576. */
myelin_status myelin_context_arena_size(const myelin_model *model, size_t max_batch, size_t *bytes);

/* Creates a context able to run up to `max_batch` samples per call (1 … 1048576). All
 * memory a run needs (the planned arena) is allocated here. On failure stores NULL in
 * *out_context. The model must outlive the context. */
myelin_status myelin_context_create(const myelin_model *model, size_t max_batch, myelin_context **out_context);

/* Frees a context. NULL is allowed. */
void myelin_context_free(myelin_context *context);

/* Runs `batch` samples (1 … max_batch) of a model with exactly one input and one output,
 * both float32 (else MYELIN_ERR_INVALID_ARGUMENT). `input` holds batch × input size floats,
 * `output` receives batch × output size floats, both row-major (sample after sample).
 * Does not allocate. Use a context from one thread at a time. */
myelin_status myelin_run(myelin_context *context, const float *input, size_t batch, float *output);

/* Runs `batch` samples (1 … max_batch) of any model. inputs[i] points to graph input i and
 * outputs[i] to graph output i (graph order, see myelin_model_input_info), each
 * batch × count elements of that value's dtype, row-major; no pointer may be NULL. Inputs
 * are only read; outputs must not overlap inputs or each other. Does not allocate. */
myelin_status myelin_run_multi(myelin_context *context, size_t batch, const void *const *inputs, void *const *outputs);

/* ---- Streaming sequence models -------------------------------------------------------
 *
 * A sequence model (recurrent layers, a decoder-only Transformer) takes inputs whose first
 * per-sample dimension is time: T steps (input info dims[0]), e.g. int32 token ids [T] or
 * float features [T, F]. myelin_run / myelin_run_multi run whole sequences of T steps. For
 * streaming, the context keeps each stream's state between calls — the recurrent layers' h
 * (and c), the attention layers' key/value cache — so the caller feeds only new steps and
 * never passes hidden state in or out:
 *
 *     myelin_context_create(model, 1, &ctx);
 *     int32_t token = first;
 *     for (;;) {
 *         const void *in[1] = {&token};
 *         void *out[1] = {logits};                       // steps × vocabulary floats
 *         if (myelin_step(ctx, 1, 1, in, out) != MYELIN_OK) break;   // one new step
 *         token = sample(logits);
 *     }
 *     myelin_context_reset(ctx);                         // start a new stream
 *
 * A step call with `steps` steps takes, for graph input i, batch × steps × (count / T)
 * elements (an input without a time axis, such as a seq2seq "source": batch × count), and
 * fills each sequence output (myelin_model_output_is_sequence) with batch × steps × (count / T)
 * elements — the outputs of the new steps — and every other
 * output (a classifier's scores after the steps fed so far) with batch × count elements.
 * The stream's batch is fixed by its first step call after a reset (row b of every call is
 * stream b). myelin_run and myelin_run_multi start from zero state and leave the stream
 * reset. Int32 token ids must lie in 0 … vocabulary − 1 (else MYELIN_ERR_INVALID_ARGUMENT).
 *
 * A graph streams when time runs through ops that treat steps one at a time (linear layers,
 * activations, embeddings, layer norm, residual adds), unidirectional recurrent layers and
 * causal attention. Bidirectional layers and non-causal attention need whole sequences:
 * myelin_step returns MYELIN_ERR_UNSUPPORTED for them (myelin_run still works).
 *
 * Sequence-to-sequence models (a Transformer encoder–decoder; examples/c/translate.c) have an
 * input without a time axis, read only at the first step after a reset: "source" [S] token ids.
 * That step runs the encoder over it and the cross-attention keeps the encoder's keys and
 * values in the state; every step feeds decoder tokens through "target" [T] (pass the source
 * buffer whole with every call: it is not read again until the next reset). Likewise a
 * recurrent layer's initial state, when a model takes one as an input ("h0" [D, H]), is read
 * at the first step only.
 *
 * Memory: all state is allocated by myelin_context_create: per sample, 4·H bytes per
 * recurrent layer and direction (8·H for an LSTM: h and c), and 8·C·E bytes per attention
 * layer of width E with a cache of C positions (C is chosen at export, the positional
 * table's length at most; C ≤ 2^20), (8·E + 4)·S bytes per cross-attention over S source
 * positions. A context holds max_batch × the model's state bytes
 * per sample (myelin_model_stream_info reports them before any context exists); a hostile
 * bundle can declare gigabytes of cache, so cap contexts with myelin_set_memory_budget
 * (the state counts towards it). myelin_step allocates nothing. */

/* Whether and how the model streams. *max_steps: the most steps per myelin_step call (T);
 * *capacity: the most steps a stream may reach before a reset (0: unbounded; an attention
 * cache or positional table bounds it); *state_bytes_per_sample: state bytes per stream.
 * MYELIN_ERR_UNSUPPORTED if the model cannot stream (then only *state_bytes_per_sample is
 * set); MYELIN_ERR_INVALID_ARGUMENT for NULL pointers. */
myelin_status myelin_model_stream_info(const myelin_model *model, size_t *max_steps, size_t *capacity,
                                       size_t *state_bytes_per_sample);

/* 1 if graph output `index` has a time axis in a streaming model (myelin_step returns one row
 * per new step), 0 otherwise (or if the model cannot stream or `index` is out of range). */
int myelin_model_output_is_sequence(const myelin_model *model, size_t index);

/* Feeds `steps` new time steps (1 … max_steps) of `batch` streams (1 … max_batch; the same
 * batch as the previous calls since the last reset). inputs[i] / outputs[i] as in
 * myelin_run_multi, sized as described above. The state advances by `steps`. Errors leave
 * the state and position unchanged: MYELIN_ERR_UNSUPPORTED (the model cannot stream),
 * MYELIN_ERR_INVALID_ARGUMENT (NULL pointers, steps 0, batch out of range or other than the
 * stream's, a token id out of range), MYELIN_ERR_LIMIT_EXCEEDED (steps > max_steps, or the
 * stream would pass its capacity: reset it). Does not allocate. */
myelin_status myelin_step(myelin_context *context, size_t batch, size_t steps, const void *const *inputs,
                          void *const *outputs);

/* Starts a new stream: the next myelin_step begins from zero state at position 0.
 * MYELIN_ERR_INVALID_ARGUMENT if `context` is NULL. */
myelin_status myelin_context_reset(myelin_context *context);

/* Steps fed to the stream since the last reset (0 for NULL). */
size_t myelin_context_position(const myelin_context *context);

/* Bytes of stream state the context holds (for all max_batch streams; 0 for a model without
 * state). MYELIN_ERR_INVALID_ARGUMENT for NULL pointers. */
myelin_status myelin_context_state_size(const myelin_context *context, size_t *bytes);

#ifdef __cplusplus
}
#endif

#endif /* MYELIN_H */
