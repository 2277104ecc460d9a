/*
 * translate.c — translates dates written by humans ("Mar 3, 2050", "3rd of March 2050") to ISO
 * 8601 ("2050-03-03") with a sequence-to-sequence bundle exported by Myelin (a Transformer
 * encoder–decoder trained with `myelin train --dataset dates --model seq2seq-transformer`),
 * greedily, one output character per myelin_step call.
 *
 *   translate MODEL.myelin DATE...          translate each argument
 *   translate MODEL.myelin                  translate each line of standard input
 *   translate MODEL.myelin --check FILE     FILE: lines "source<TAB>expected translation";
 *                                           prints how many translations equal the expected
 *                                           ones (exit status 1 unless all do)
 *
 * The bundle (docs/bundle-format.md, "Sequence-to-sequence bundles") has two int32 inputs,
 * "source" [S] (the date's character ids, padded with seq2seq.padding_id) and "target" [T]
 * (the decoder's tokens: the start id, then what was decoded so far), and the output "logits"
 * [T, vocabulary]. The encoder over the source is the stream's context: the first step after a
 * reset runs it and keeps its keys and values; every later step feeds one decoder token (the
 * source buffer is passed again but not read). Metadata: "seq2seq.characters" (the characters
 * of ids seq2seq.first_id, first_id + 1, …), "seq2seq.start_id", "seq2seq.end_id",
 * "seq2seq.padding_id".
 */
#include <myelin.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    myelin_context *context;
    size_t source_index, target_index, source_length, target_length, vocabulary;
    const char *characters;   /* ASCII: id first_id + i is characters[i] */
    long first_id, start_id, end_id, padding_id;
    int32_t *source;
    float *logits;
} translator;

static int metadata_long(const myelin_model *model, const char *key, long *value) {
    const char *text;
    char *end;
    if (myelin_model_metadata(model, key, &text) != MYELIN_OK) return 0;
    *value = strtol(text, &end, 10);
    return end != text && *end == '\0';
}

/* Writes the translation of `date` (NUL-terminated) into out (capacity target_length + 1).
 * Returns 0 if a character is outside the vocabulary or the date is too long, -1 if the
 * runtime fails, 1 on success. */
static int translate(translator *t, const char *date, char *out) {
    size_t n = strlen(date), count = strlen(t->characters);
    if (n > t->source_length) return 0;
    for (size_t i = 0; i < t->source_length; i++) {
        if (i >= n) { t->source[i] = (int32_t)t->padding_id; continue; }
        const char *at = (unsigned char)date[i] < 0x80 ? memchr(t->characters, date[i], count) : NULL;
        if (at == NULL) return 0;
        t->source[i] = (int32_t)(t->first_id + (at - t->characters));
    }
    size_t written = 0;
    int32_t token = (int32_t)t->start_id;
    myelin_context_reset(t->context);
    for (size_t step = 0; step < t->target_length; step++) {
        const void *inputs[2];
        inputs[t->source_index] = t->source;
        inputs[t->target_index] = &token;
        void *outputs[1] = {t->logits};
        myelin_status status = myelin_step(t->context, 1, 1, inputs, outputs);
        if (status != MYELIN_OK) {
            fprintf(stderr, "myelin_step: %s\n", myelin_status_string(status));
            return -1;
        }
        size_t best = 0;
        for (size_t i = 1; i < t->vocabulary; i++) if (t->logits[i] > t->logits[best]) best = i;
        if ((long)best == t->end_id) break;
        long index = (long)best - t->first_id;
        if (index >= 0 && (size_t)index < count) out[written++] = t->characters[index];
        token = (int32_t)best;
    }
    out[written] = '\0';
    return 1;
}

/* Strips a trailing newline (and carriage return). */
static void chomp(char *line) {
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.myelin [DATE... | --check FILE]\n", argv[0]);
        return 2;
    }
    char message[512];
    myelin_model *model;
    if (myelin_model_load_file_ex(argv[1], &model, message, sizeof message) != MYELIN_OK) {
        fprintf(stderr, "%s\n", message);
        return 1;
    }
    int result = 1;
    translator t;
    memset(&t, 0, sizeof t);
    char *out = NULL;
    FILE *check = NULL;
    myelin_value_info source, target, logits;
    size_t max_steps = 0, capacity = 0, state_bytes = 0;
    if (myelin_model_metadata(model, "seq2seq.characters", &t.characters) != MYELIN_OK
        || !metadata_long(model, "seq2seq.first_id", &t.first_id) || !metadata_long(model, "seq2seq.start_id", &t.start_id)
        || !metadata_long(model, "seq2seq.end_id", &t.end_id) || !metadata_long(model, "seq2seq.padding_id", &t.padding_id)) {
        fprintf(stderr, "%s: no seq2seq.* metadata: not a translation model\n", argv[1]);
        goto done;
    }
    if (myelin_model_input_count(model) != 2 || myelin_model_find_input(model, "source", &t.source_index) != MYELIN_OK
        || myelin_model_find_input(model, "target", &t.target_index) != MYELIN_OK
        || myelin_model_input_info(model, t.source_index, &source) != MYELIN_OK
        || myelin_model_input_info(model, t.target_index, &target) != MYELIN_OK
        || myelin_model_output_info(model, 0, &logits) != MYELIN_OK || source.dtype != MYELIN_DTYPE_I32
        || target.dtype != MYELIN_DTYPE_I32 || source.rank != 1 || target.rank != 1 || logits.rank != 2) {
        fprintf(stderr, "%s: expected int32 inputs source [S] and target [T], and logits [T, vocabulary]\n", argv[1]);
        goto done;
    }
    if (myelin_model_stream_info(model, &max_steps, &capacity, &state_bytes) != MYELIN_OK) {
        fprintf(stderr, "%s: the model cannot stream\n", argv[1]);
        goto done;
    }
    t.source_length = (size_t)source.dims[0];
    t.target_length = (size_t)target.dims[0];
    t.vocabulary = (size_t)logits.dims[1];
    if (capacity != 0 && capacity < t.target_length) t.target_length = capacity;
    t.source = malloc(t.source_length * sizeof(int32_t));
    t.logits = malloc(t.vocabulary * sizeof(float));
    out = malloc(t.target_length + 1);
    if (t.source == NULL || t.logits == NULL || out == NULL || myelin_context_create(model, 1, &t.context) != MYELIN_OK) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    char line[1024];
    if (argc == 4 && strcmp(argv[2], "--check") == 0) {
        check = fopen(argv[3], "r");
        if (check == NULL) { fprintf(stderr, "cannot open %s\n", argv[3]); goto done; }
        size_t total = 0, equal = 0;
        while (fgets(line, sizeof line, check) != NULL) {
            chomp(line);
            char *tab = strchr(line, '\t');
            if (tab == NULL) continue;
            *tab = '\0';
            int ok = translate(&t, line, out);
            if (ok < 0) goto done;
            total++;
            if (ok > 0 && strcmp(out, tab + 1) == 0) equal++;
            else fprintf(stderr, "\"%s\": got \"%s\", expected \"%s\"\n", line, ok > 0 ? out : "(not translatable)", tab + 1);
        }
        printf("%zu of %zu translations equal the expected ones\n", equal, total);
        result = total > 0 && equal == total ? 0 : 1;
        goto done;
    }
    if (argc > 2) {
        for (int i = 2; i < argc; i++) {
            int ok = translate(&t, argv[i], out);
            if (ok < 0) goto done;
            if (ok == 0) { fprintf(stderr, "\"%s\": a character outside the vocabulary, or too long\n", argv[i]); continue; }
            printf("%s -> %s\n", argv[i], out);
        }
    } else {
        while (fgets(line, sizeof line, stdin) != NULL) {
            chomp(line);
            int ok = translate(&t, line, out);
            if (ok < 0) goto done;
            if (ok == 0) { fprintf(stderr, "\"%s\": a character outside the vocabulary, or too long\n", line); continue; }
            printf("%s -> %s\n", line, out);
        }
    }
    result = 0;
done:
    if (check != NULL) fclose(check);
    free(out);
    free(t.source);
    free(t.logits);
    myelin_context_free(t.context);
    myelin_model_free(model);
    return result;
}
