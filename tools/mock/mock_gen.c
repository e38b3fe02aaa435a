/*
 * mock_gen.c - the deterministic content of sy-mock's replies.
 *
 * Everything a test may want to predict is computed here from the request's
 * texts alone: a FNV-1a hash of the concatenated message texts seeds a
 * splitmix64 sequence that picks words from a fixed vocabulary; the words of
 * the texts give prompt_tokens; the last user text is echoed in the first
 * token; embeddings are unit vectors drawn from the input's hash. The model
 * name plays no part, so a reply is the same whichever deployment served it.
 * Also here: the JSON string escaper and base64 encoder the reply builders
 * share, and the clocks.
 */
#include "mock.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

static const char *const vocab[] = {
    "alpha",  "bravo",  "charlie", "delta",   "echo",   "foxtrot", "golf",   "hotel",
    "india",  "juliet", "kilo",    "lima",    "mike",   "november", "oscar", "papa",
    "quebec", "romeo",  "sierra",  "tango",   "uniform", "victor", "whiskey", "xray",
    "yankee", "zulu",   "river",   "stone",   "cloud",  "signal",  "packet", "stream",
    "token",  "router", "gateway", "switch",  "yard",   "rail",    "engine", "cargo",
    "bridge", "tunnel", "harbor",  "beacon",  "lantern", "meadow", "forest", "canyon",
    "summit", "valley", "island",  "desert",  "glacier", "comet",  "planet", "orbit",
    "quartz", "amber",  "cobalt",  "crimson", "indigo", "silver",  "copper", "velvet",
};
#define VOCAB_N (sizeof vocab / sizeof vocab[0])

uint64_t sy_mock_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t sy_mock_prng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

const char *sy_mock_word(uint64_t r, size_t *len)
{
    const char *w = vocab[r % VOCAB_N];
    *len = strlen(w);
    return w;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

long sy_mock_count_words(const char *s, size_t n)
{
    long words = 0;
    int in_word = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_space((unsigned char)s[i])) {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
    return words;
}

size_t sy_mock_utf8_prefix(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    /* s[max] is the first byte left out: if it continues a sequence, the
     * sequence started inside the prefix and must go too. */
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return k;
}

/* The escape for byte c, or NULL when c needs none. */
static const char *escape_of(unsigned char c, char tmp[8])
{
    switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '\b': return "\\b";
    case '\f': return "\\f";
    default:
        if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            tmp[0] = '\\'; tmp[1] = 'u'; tmp[2] = '0'; tmp[3] = '0';
            tmp[4] = hex[c >> 4]; tmp[5] = hex[c & 15]; tmp[6] = 0;
            return tmp;
        }
        return NULL;
    }
}

void sy_mock_json_escape(struct evbuffer *b, const char *s, size_t n)
{
    size_t run = 0;
    char tmp[8];
    for (size_t i = 0; i < n; i++) {
        const char *e = escape_of((unsigned char)s[i], tmp);
        if (e == NULL)
            continue;
        if (i > run)
            evbuffer_add(b, s + run, i - run);
        evbuffer_add(b, e, strlen(e));
        run = i + 1;
    }
    if (n > run)
        evbuffer_add(b, s + run, n - run);
}

size_t sy_mock_json_escape_buf(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    char tmp[8];
    if (cap == 0)
        return (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        const char *e = escape_of((unsigned char)s[i], tmp);
        size_t el = e ? strlen(e) : 1;
        if (o + el >= cap)
            return (size_t)-1;
        if (e)
            memcpy(dst + o, e, el);
        else
            dst[o] = s[i];
        o += el;
    }
    dst[o] = 0;
    return o;
}

void sy_mock_embedding(uint64_t h, float *v, long dims)
{
    uint64_t st = h;
    double sum = 0;
    for (long i = 0; i < dims; i++) {
        /* 53 random bits mapped onto [-1, 1). */
        double x = (double)(sy_mock_prng_next(&st) >> 11) * (1.0 / 9007199254740992.0);
        v[i] = (float)(2.0 * x - 1.0);
        sum += (double)v[i] * v[i];
    }
    double norm = sqrt(sum);
    if (norm == 0) {
        v[0] = 1.0f;
        return;
    }
    for (long i = 0; i < dims; i++)
        v[i] = (float)(v[i] / norm);
}

void sy_mock_base64(struct evbuffer *b, const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char out[4];
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t x = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[0] = tab[x >> 18 & 63]; out[1] = tab[x >> 12 & 63];
        out[2] = tab[x >> 6 & 63];  out[3] = tab[x & 63];
        evbuffer_add(b, out, 4);
    }
    if (n - i == 1) {
        uint32_t x = (uint32_t)p[i] << 16;
        out[0] = tab[x >> 18 & 63]; out[1] = tab[x >> 12 & 63];
        out[2] = '='; out[3] = '=';
        evbuffer_add(b, out, 4);
    } else if (n - i == 2) {
        uint32_t x = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[0] = tab[x >> 18 & 63]; out[1] = tab[x >> 12 & 63];
        out[2] = tab[x >> 6 & 63];  out[3] = '=';
        evbuffer_add(b, out, 4);
    }
}

void sy_mock_text_init(sy_mock_text_t *t)
{
    memset(t, 0, sizeof *t);
    t->hash = SY_MOCK_FNV_OFFSET;
}

void sy_mock_text_message(sy_mock_text_t *t, int is_user)
{
    t->in_user = is_user;
    if (is_user)
        t->user_len = 0;
}

void sy_mock_text_add(sy_mock_text_t *t, const char *s, size_t n)
{
    /* Hash and word count in one pass: the count rides in the shadow of the
     * hash's serial multiply chain, which bounds the loop either way. */
    uint64_t h = t->hash;
    long words = 0;
    unsigned in_word = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        unsigned word_byte = !(c == ' ' || (unsigned)(c - '\t') <= (unsigned)('\r' - '\t'));
        h = (h ^ c) * 0x100000001b3ULL;
        words += word_byte & (in_word ^ 1u);
        in_word = word_byte;
    }
    t->hash = h;
    t->words += words;
    if (t->in_user && t->user_len < sizeof t->user) {
        size_t k = sizeof t->user - t->user_len;
        if (k > n)
            k = n;
        memcpy(t->user + t->user_len, s, k);
        t->user_len += k;
    }
}

int64_t sy_mock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t sy_mock_real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
