/*
 * generate.c — samples text from a character-level language model bundle (an LSTM or a
 * decoder-only Transformer exported by Myelin), one character per myelin_step call: the
 * context keeps the recurrent state or the key/value cache, so each new character costs one
 * step, not a pass over the whole context.
 *
 *   generate MODEL.myelin [--prompt TEXT] [--length N] [--temperature T] [--top-k K] [--seed S]
 *
 * The bundle's metadata "vocabulary.characters" lists the characters of token ids 0, 1, …
 * (one UTF-8 string, docs/bundle-format.md). The model's input is int32 token ids [T], its
 * output logits [T, vocabulary]. When a stream reaches its capacity (the attention cache or
 * positional table of a Transformer), the context is reset and the last half of the text is
 * fed again (a sliding window).
 */
#include <myelin.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VOCABULARY 4096

/* The vocabulary: token i is the UTF-8 bytes text[start[i] .. start[i+1]). */
typedef struct {
    const char *text;
    size_t start[MAX_VOCABULARY + 1];
    size_t count;
} vocabulary;

static int utf8_length(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 0;
}

static int read_vocabulary(const char *text, vocabulary *v) {
    size_t at = 0, n = strlen(text);
    v->text = text;
    v->count = 0;
    while (at < n) {
        int len = utf8_length((unsigned char)text[at]);
        if (len == 0 || at + (size_t)len > n || v->count == MAX_VOCABULARY) return 0;
        v->start[v->count++] = at;
        at += (size_t)len;
    }
    v->start[v->count] = at;
    return v->count > 0;
}

/* The id of the character at text[*at] (advancing *at), or -1. */
static int32_t token_of(const vocabulary *v, const char *text, size_t *at) {
    for (size_t i = 0; i < v->count; i++) {
        size_t len = v->start[i + 1] - v->start[i];
        if (strncmp(text + *at, v->text + v->start[i], len) == 0) {
            *at += len;
            return (int32_t)i;
        }
    }
    return -1;
}

/* splitmix64: a small seeded generator, so a seed gives the same text everywhere. */
static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A token drawn from softmax(logits / temperature) over the top_k largest logits (all if
 * top_k is 0); temperature 0 takes the largest. */
static int32_t sample(const float *logits, size_t n, double temperature, size_t top_k, uint64_t *rng, double *weights) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++) if (logits[i] > logits[best]) best = i;
    if (temperature <= 0) return (int32_t)best;
    /* The k-th largest logit is the cutoff. */
    float cutoff = -INFINITY;
    if (top_k > 0 && top_k < n) {
        for (size_t i = 0; i < n; i++) {
            size_t above = 0;
            for (size_t j = 0; j < n; j++) if (logits[j] > logits[i]) above++;
            if (above < top_k && (cutoff == -INFINITY || logits[i] < cutoff)) cutoff = logits[i];
        }
    }
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        weights[i] = logits[i] >= cutoff ? exp((logits[i] - logits[best]) / temperature) : 0;
        total += weights[i];
    }
    double r = (double)(next_random(rng) >> 11) / 9007199254740992.0 * total;
    for (size_t i = 0; i < n; i++) {
        if (r < weights[i]) return (int32_t)i;
        r -= weights[i];
    }
    return (int32_t)best;
}

typedef struct {
    myelin_context *context;
    size_t max_steps, capacity, vocabulary_size;
    float *logits;         /* max_steps × vocabulary */
    int32_t *history;      /* every token so far, for the sliding window */
    size_t history_count;
} stream;

/* Feeds `count` tokens (in chunks of at most max_steps); the logits of the last one end up at
 * logits[(steps − 1) · vocabulary]. A chunk that would pass the stream's capacity first
 * resets it and feeds the last half-capacity tokens of the history (which precede the chunk)
 * again. Returns the steps of the last call, or 0 on failure. */
static size_t feed(stream *s, const int32_t *tokens, size_t count) {
    size_t last = 0;
    for (size_t at = 0; at < count; at += last) {
        last = count - at < s->max_steps ? count - at : s->max_steps;
        if (s->capacity > 0 && myelin_context_position(s->context) + last > s->capacity) {
            /* Sliding window: start again from the last half of what came before. */
            size_t keep = s->capacity / 2;
            myelin_context_reset(s->context);
            if (keep > 0 && s->history_count >= keep && feed(s, s->history + s->history_count - keep, keep) == 0) return 0;
        }
        const void *inputs[1] = {tokens + at};
        void *outputs[1] = {s->logits};
        myelin_status status = myelin_step(s->context, 1, last, inputs, outputs);
        if (status != MYELIN_OK) {
            fprintf(stderr, "myelin_step: %s\n", myelin_status_string(status));
            return 0;
        }
    }
    return last;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.myelin [--prompt TEXT] [--length N] [--temperature T] [--top-k K] [--seed S]\n", argv[0]);
        return 2;
    }
    const char *prompt = NULL;
    long length = 200, top_k = 0;
    double temperature = 1.0;
    uint64_t rng = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--prompt") == 0) prompt = argv[i + 1];
        else if (strcmp(argv[i], "--length") == 0) length = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--temperature") == 0) temperature = strtod(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--top-k") == 0) top_k = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0) rng = strtoull(argv[i + 1], NULL, 10);
        else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    }
    if (length < 0 || top_k < 0 || temperature < 0) { fprintf(stderr, "length, top-k and temperature must not be negative\n"); return 2; }

    char message[512];
    myelin_model *model;
    if (myelin_model_load_file_ex(argv[1], &model, message, sizeof message) != MYELIN_OK) {
        fprintf(stderr, "%s\n", message);
        return 1;
    }
    int result = 1;
    stream s;
    memset(&s, 0, sizeof s);
    vocabulary *v = malloc(sizeof *v);
    const char *characters = NULL;
    size_t state_bytes = 0;
    myelin_value_info input, output;
    double *weights = NULL;
    int32_t *start = NULL;
    size_t start_count = 0;
    if (v == NULL || myelin_model_metadata(model, "vocabulary.characters", &characters) != MYELIN_OK || !read_vocabulary(characters, v)) {
        fprintf(stderr, "%s: no vocabulary.characters metadata: not a character-level language model\n", argv[1]);
        goto done;
    }
    if (myelin_model_input_count(model) != 1 || myelin_model_input_info(model, 0, &input) != MYELIN_OK || input.dtype != MYELIN_DTYPE_I32
        || myelin_model_output_info(model, 0, &output) != MYELIN_OK || output.rank != 2 || (size_t)output.dims[1] != v->count) {
        fprintf(stderr, "%s: expected int32 tokens [T] in and logits [T, %zu] out\n", argv[1], v->count);
        goto done;
    }
    if (myelin_model_stream_info(model, &s.max_steps, &s.capacity, &state_bytes) != MYELIN_OK) {
        fprintf(stderr, "%s: the model cannot stream\n", argv[1]);
        goto done;
    }
    s.vocabulary_size = v->count;
    s.logits = malloc(s.max_steps * v->count * sizeof(float));
    weights = malloc(v->count * sizeof(double));
    start = malloc(((prompt ? strlen(prompt) : 0) + 1) * sizeof(int32_t));
    s.history = malloc(((prompt ? strlen(prompt) : 0) + (size_t)length + 1) * sizeof(int32_t));
    if (s.logits == NULL || weights == NULL || start == NULL || s.history == NULL
        || myelin_context_create(model, 1, &s.context) != MYELIN_OK) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    /* The prompt's tokens (a newline, or token 0, without one); of a prompt longer than the
     * stream's capacity only the end. */
    if (prompt != NULL && prompt[0] != '\0') {
        for (size_t at = 0; prompt[at] != '\0';) {
            int32_t t = token_of(v, prompt, &at);
            if (t < 0) { fprintf(stderr, "the prompt has a character outside the vocabulary\n"); goto done; }
            start[start_count++] = t;
        }
    } else {
        size_t at = 0;
        int32_t t = token_of(v, "\n", &at);
        start[start_count++] = t < 0 ? 0 : t;
    }
    size_t skip = s.capacity > 0 && start_count > s.capacity ? start_count - s.capacity : 0;
    size_t last = feed(&s, start + skip, start_count - skip);
    if (last == 0) goto done;
    memcpy(s.history, start, start_count * sizeof(int32_t));
    s.history_count = start_count;
    if (prompt != NULL) fputs(prompt, stdout);
    for (long i = 0; i < length; i++) {
        int32_t t = sample(s.logits + (last - 1) * v->count, v->count, temperature, (size_t)top_k, &rng, weights);
        fwrite(v->text + v->start[t], 1, v->start[t + 1] - v->start[t], stdout);
        last = feed(&s, &t, 1);
        if (last == 0) goto done;
        s.history[s.history_count++] = t;
    }
    fprintf(stderr, "\ngenerated %ld characters (vocabulary %zu, state %zu bytes, context capacity %zu)\n", length, v->count,
            state_bytes, s.capacity);
    result = 0;
done:
    free(weights);
    free(start);
    myelin_context_free(s.context);
    free(s.logits);
    free(s.history);
    free(v);
    myelin_model_free(model);
    return result;
}
