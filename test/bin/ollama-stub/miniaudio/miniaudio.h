/*
 * lab's stand-in for miniaudio.h. The ollama Go module zip omits llama.cpp's
 * vendor/ folder and Debian ships no miniaudio, yet mtmd's audio helper
 * includes it. lab never feeds audio to a model, so every decoder entry point
 * here reports failure; only the declarations the helper compiles against exist.
 */
#ifndef LAB_MINIAUDIO_STUB_H
#define LAB_MINIAUDIO_STUB_H
#include <stddef.h>
#include <stdint.h>

typedef int ma_result;
typedef uint64_t ma_uint64;
#define MA_SUCCESS 0
#define MA_ERROR (-1)

typedef enum { ma_format_unknown = 0, ma_format_f32 = 5 } ma_format;
typedef struct { ma_format format; int channels; int sampleRate; } ma_decoder_config;
typedef struct { int unused; } ma_decoder;

static inline ma_decoder_config ma_decoder_config_init(ma_format format, int channels, int rate) {
    ma_decoder_config cfg;
    cfg.format = format; cfg.channels = channels; cfg.sampleRate = rate;
    return cfg;
}
static inline ma_result ma_decoder_init_memory(const void *data, size_t size,
        const ma_decoder_config *cfg, ma_decoder *dec) {
    (void)data; (void)size; (void)cfg; (void)dec;
    return MA_ERROR;
}
static inline ma_result ma_decoder_get_length_in_pcm_frames(ma_decoder *dec, ma_uint64 *frames) {
    (void)dec; *frames = 0;
    return MA_ERROR;
}
static inline ma_result ma_decoder_read_pcm_frames(ma_decoder *dec, void *out, ma_uint64 n, ma_uint64 *read) {
    (void)dec; (void)out; (void)n; *read = 0;
    return MA_ERROR;
}
static inline ma_result ma_decoder_uninit(ma_decoder *dec) { (void)dec; return MA_SUCCESS; }
#endif
