/*
 * canon.c - the canonical form's tables and helpers (see canon.h).
 */
#include "core/canon.h"

#include <stdlib.h>
#include <string.h>

int sy_str_eq(sy_str_t a, sy_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

int sy_str_blank(sy_str_t s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] != ' ' && s.p[i] != '\t' && s.p[i] != '\n' && s.p[i] != '\r')
            return 0;
    return 1;
}

void sy_creq_init(sy_creq_t *q, sy_op_t op, sy_proto_t proto)
{
    memset(q, 0, sizeof(*q));
    q->op = op;
    q->proto = proto;
    q->parallel_tool_calls = -1;
    q->max_tokens = -1;
    q->num_ctx = -1;
    q->dimensions = -1;
    q->truncate = -1;
}

void sy_usage_init(sy_usage_t *u)
{
    u->input_tokens = u->output_tokens = u->cache_read_tokens = u->cache_write_tokens = -1;
    u->total_duration = u->load_duration = u->prompt_eval_duration = u->eval_duration = -1;
}

void sy_usage_merge(sy_usage_t *into, const sy_usage_t *from)
{
    const int64_t *f = &from->input_tokens;
    int64_t *t = &into->input_tokens;
    for (size_t i = 0; i < sizeof(sy_usage_t) / sizeof(int64_t); i++)
        if (f[i] >= 0)
            t[i] = f[i];
}

/* ---- mapping tables ----------------------------------------------------- */

/* One row per canonical reason: what each protocol calls it. Reading, the
 * extra words of each protocol map as listed in from_words. */
static const struct {
    sy_finish_t f;
    const char *openai, *anthropic, *ollama;
} finish_words[] = {
    {SY_FINISH_NONE, "stop", "end_turn", "stop"},
    {SY_FINISH_STOP, "stop", "end_turn", "stop"},
    {SY_FINISH_LENGTH, "length", "max_tokens", "length"},
    {SY_FINISH_TOOL_CALLS, "tool_calls", "tool_use", "stop"},
    {SY_FINISH_FILTER, "content_filter", "refusal", "stop"},
};

static const struct {
    const char *word;
    sy_finish_t f;
} from_words[] = {
    /* OpenAI */
    {"stop", SY_FINISH_STOP},
    {"length", SY_FINISH_LENGTH},
    {"tool_calls", SY_FINISH_TOOL_CALLS},
    {"function_call", SY_FINISH_TOOL_CALLS},
    {"content_filter", SY_FINISH_FILTER},
    /* Anthropic */
    {"end_turn", SY_FINISH_STOP},
    {"stop_sequence", SY_FINISH_STOP},
    {"pause_turn", SY_FINISH_STOP},
    {"max_tokens", SY_FINISH_LENGTH},
    {"model_context_window_exceeded", SY_FINISH_LENGTH},
    {"tool_use", SY_FINISH_TOOL_CALLS},
    {"refusal", SY_FINISH_FILTER},
    /* Ollama: "stop", "length" above; "load" and "unload" end without an answer */
    {"load", SY_FINISH_STOP},
    {"unload", SY_FINISH_STOP},
};

static const char *finish_to(sy_finish_t f, int proto)
{
    for (size_t i = 0; i < sizeof(finish_words) / sizeof(finish_words[0]); i++)
        if (finish_words[i].f == f)
            return proto == SY_PROTO_OPENAI      ? finish_words[i].openai
                   : proto == SY_PROTO_ANTHROPIC ? finish_words[i].anthropic
                                                 : finish_words[i].ollama;
    return finish_to(SY_FINISH_STOP, proto);
}

const char *sy_finish_to_openai(sy_finish_t f)
{
    return finish_to(f, SY_PROTO_OPENAI);
}

const char *sy_finish_to_anthropic(sy_finish_t f)
{
    return finish_to(f, SY_PROTO_ANTHROPIC);
}

const char *sy_finish_to_ollama(sy_finish_t f)
{
    return finish_to(f, SY_PROTO_OLLAMA);
}

static sy_finish_t finish_from(const char *s, size_t n)
{
    if (!s || n == 0)
        return SY_FINISH_NONE;
    for (size_t i = 0; i < sizeof(from_words) / sizeof(from_words[0]); i++)
        if (strlen(from_words[i].word) == n && memcmp(from_words[i].word, s, n) == 0)
            return from_words[i].f;
    return SY_FINISH_STOP;
}

sy_finish_t sy_finish_from_openai(const char *s, size_t n)
{
    return finish_from(s, n);
}

sy_finish_t sy_finish_from_anthropic(const char *s, size_t n)
{
    return finish_from(s, n);
}

sy_finish_t sy_finish_from_ollama(const char *s, size_t n)
{
    return finish_from(s, n);
}

static const char *const role_names[] = {"system", "user", "assistant", "tool"};

int sy_role_from(const char *s, size_t n)
{
    for (size_t i = 0; i < 4; i++)
        if (strlen(role_names[i]) == n && memcmp(role_names[i], s, n) == 0)
            return (int)i;
    if (n == 9 && memcmp(s, "developer", 9) == 0) /* OpenAI's newer name for system */
        return SY_ROLE_SYSTEM;
    return -1;
}

const char *sy_role_name(sy_role_t r)
{
    return (unsigned)r < 4 ? role_names[r] : "user";
}

/* ---- aggregation -------------------------------------------------------- */

void sy_cresp_init(sy_cresp_t *c, size_t max_bytes)
{
    memset(c, 0, sizeof(*c));
    sy_usage_init(&c->usage);
    c->max_bytes = max_bytes ? max_bytes : (64u << 20);
}

void sy_cresp_release(sy_cresp_t *c)
{
    free(c->text);
    free(c->thinking);
    for (size_t i = 0; i < c->n_calls; i++) {
        free(c->calls[i].id);
        free(c->calls[i].name);
        free(c->calls[i].args);
    }
    c->text = c->thinking = NULL;
    c->n_calls = 0;
}

/* Append to a NUL-terminated growing string. */
static int append(char **s, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap : 64;
        while (nc < *len + n + 1)
            nc *= 2;
        char *ns = realloc(*s, nc);
        if (!ns)
            return SY_ENOMEM;
        *s = ns;
        *cap = nc;
    }
    if (n)
        memcpy(*s + *len, p, n);
    *len += n;
    (*s)[*len] = '\0';
    return 0;
}

static char *dup_str(sy_str_t s)
{
    char *d = malloc(s.len + 1);
    if (d) {
        if (s.len)
            memcpy(d, s.p, s.len);
        d[s.len] = '\0';
    }
    return d;
}

int sy_cresp_add(sy_cresp_t *c, const sy_ev_t *ev)
{
    size_t add = ev->text.len + ev->args.len + ev->id.len + ev->name.len;
    if (c->bytes + add > c->max_bytes)
        return SY_ETOOLARGE;
    c->bytes += add;
    switch (ev->kind) {
    case SY_EV_START:
        if (ev->id.len && ev->id.len < sizeof(c->id)) {
            memcpy(c->id, ev->id.p, ev->id.len);
            c->id[ev->id.len] = '\0';
        }
        return 0;
    case SY_EV_TEXT:
        return append(&c->text, &c->text_len, &c->text_cap, ev->text.p, ev->text.len);
    case SY_EV_THINKING:
        return append(&c->thinking, &c->thinking_len, &c->thinking_cap, ev->text.p, ev->text.len);
    case SY_EV_TOOL_CALL: {
        if (ev->index < 0 || ev->index >= SY_CRESP_MAX_CALLS)
            return SY_ETOOLARGE;
        while (c->n_calls <= (size_t)ev->index) {
            sy_cresp_call_t *k = &c->calls[c->n_calls];
            memset(k, 0, sizeof(*k));
            if (append(&k->args, &k->args_len, &k->args_cap, "", 0))
                return SY_ENOMEM;
            c->n_calls++;
        }
        sy_cresp_call_t *k = &c->calls[ev->index];
        if (ev->id.len && !k->id && !(k->id = dup_str(ev->id)))
            return SY_ENOMEM;
        if (ev->name.len && !k->name && !(k->name = dup_str(ev->name)))
            return SY_ENOMEM;
        return append(&k->args, &k->args_len, &k->args_cap, ev->args.p, ev->args.len);
    }
    case SY_EV_FINISH:
        c->finish = ev->finish;
        if (ev->stop_sequence.len && ev->stop_sequence.len < sizeof(c->stop_sequence)) {
            memcpy(c->stop_sequence, ev->stop_sequence.p, ev->stop_sequence.len);
            c->stop_sequence[ev->stop_sequence.len] = '\0';
        }
        return 0;
    case SY_EV_USAGE:
        sy_usage_merge(&c->usage, &ev->usage);
        return 0;
    case SY_EV_ERROR:
        return 0;
    }
    return 0;
}

static sy_str_t cstr(const char *s, size_t n)
{
    return (sy_str_t){s, s ? n : 0};
}

/* The length of the next piece of s[0..n) of about `piece` bytes: cut
 * after the last space in its second half when there is one (pieces end
 * at word boundaries, as a model's tokens do), never inside a UTF-8
 * character. */
static size_t piece_len(const char *s, size_t n, size_t piece)
{
    if (piece == 0 || n <= piece)
        return n;
    for (size_t k = piece; k > piece / 2; k--)
        if (s[k - 1] == ' ')
            return k;
    size_t k = piece;
    while (k < n && ((unsigned char)s[k] & 0xC0) == 0x80)
        k++;
    return k;
}

static int replay_text(sy_ev_kind_t kind, const char *s, size_t n, size_t piece, sy_ev_cb cb, void *ud)
{
    sy_ev_t ev;
    while (n) {
        size_t k = piece_len(s, n, piece);
        memset(&ev, 0, sizeof(ev));
        ev.kind = kind;
        ev.text = cstr(s, k);
        int rc = cb(ud, &ev);
        if (rc)
            return rc;
        s += k;
        n -= k;
    }
    return 0;
}

int sy_cresp_replay(const sy_cresp_t *c, size_t piece, sy_ev_cb cb, void *ud)
{
    sy_ev_t ev;
    int rc;
    memset(&ev, 0, sizeof(ev));
    ev.kind = SY_EV_START;
    ev.id = cstr(c->id, strlen(c->id));
    if ((rc = cb(ud, &ev)))
        return rc;
    if ((rc = replay_text(SY_EV_THINKING, c->thinking, c->thinking_len, piece, cb, ud)))
        return rc;
    if ((rc = replay_text(SY_EV_TEXT, c->text, c->text_len, piece, cb, ud)))
        return rc;
    for (size_t i = 0; i < c->n_calls; i++) {
        const sy_cresp_call_t *k = &c->calls[i];
        memset(&ev, 0, sizeof(ev));
        ev.kind = SY_EV_TOOL_CALL;
        ev.index = (int)i;
        ev.id = cstr(k->id, k->id ? strlen(k->id) : 0);
        ev.name = cstr(k->name, k->name ? strlen(k->name) : 0);
        ev.args = cstr(k->args, k->args_len);
        if ((rc = cb(ud, &ev)))
            return rc;
    }
    memset(&ev, 0, sizeof(ev));
    ev.kind = SY_EV_FINISH;
    ev.finish = c->finish ? c->finish : SY_FINISH_STOP;
    ev.stop_sequence = cstr(c->stop_sequence, strlen(c->stop_sequence));
    if ((rc = cb(ud, &ev)))
        return rc;
    memset(&ev, 0, sizeof(ev));
    ev.kind = SY_EV_USAGE;
    ev.usage = c->usage;
    return cb(ud, &ev);
}

/* ---- events as bytes ----------------------------------------------------- */

/* The header: kind, finish (1 byte each), 2 spare, index (4), the lengths of
 * text, id, name, args, stop_sequence (4 each), the eight usage counts. */
typedef struct ev_head {
    uint8_t kind, finish, spare[2];
    int32_t index;
    uint32_t len[5];
    int64_t usage[8];
} ev_head_t;

_Static_assert(sizeof(ev_head_t) == SY_EV_PACK_HEAD, "packed event header");

static void ev_strs(const sy_ev_t *ev, sy_str_t s[5])
{
    s[0] = ev->text;
    s[1] = ev->id;
    s[2] = ev->name;
    s[3] = ev->args;
    s[4] = ev->stop_sequence;
}

size_t sy_ev_packed_len(const sy_ev_t *ev)
{
    sy_str_t s[5];
    size_t n = SY_EV_PACK_HEAD;
    ev_strs(ev, s);
    for (int i = 0; i < 5; i++)
        n += s[i].len;
    return n;
}

void sy_ev_pack(const sy_ev_t *ev, unsigned char *dst)
{
    ev_head_t h;
    sy_str_t s[5];
    memset(&h, 0, sizeof(h));
    h.kind = (uint8_t)ev->kind;
    h.finish = (uint8_t)ev->finish;
    h.index = ev->index;
    ev_strs(ev, s);
    const sy_usage_t *u = &ev->usage;
    int64_t us[8] = {u->input_tokens,   u->output_tokens, u->cache_read_tokens,    u->cache_write_tokens,
                     u->total_duration, u->load_duration, u->prompt_eval_duration, u->eval_duration};
    memcpy(h.usage, us, sizeof(us));
    unsigned char *p = dst + SY_EV_PACK_HEAD;
    for (int i = 0; i < 5; i++) {
        h.len[i] = (uint32_t)s[i].len;
        if (s[i].len)
            memcpy(p, s[i].p, s[i].len);
        p += s[i].len;
    }
    memcpy(dst, &h, sizeof(h));
}

size_t sy_ev_unpack(const unsigned char *p, size_t n, sy_ev_t *ev)
{
    ev_head_t h;
    if (n < SY_EV_PACK_HEAD)
        return 0;
    memcpy(&h, p, sizeof(h));
    if (h.kind > SY_EV_ERROR || h.finish > SY_FINISH_FILTER)
        return 0;
    size_t need = SY_EV_PACK_HEAD;
    for (int i = 0; i < 5; i++) {
        if (h.len[i] > n - need)
            return 0;
        need += h.len[i];
    }
    memset(ev, 0, sizeof(*ev));
    ev->kind = (sy_ev_kind_t)h.kind;
    ev->finish = (sy_finish_t)h.finish;
    ev->index = h.index;
    sy_str_t *s[5] = {&ev->text, &ev->id, &ev->name, &ev->args, &ev->stop_sequence};
    const char *q = (const char *)p + SY_EV_PACK_HEAD;
    for (int i = 0; i < 5; i++) {
        *s[i] = h.len[i] ? cstr(q, h.len[i]) : SY_STR_NULL;
        q += h.len[i];
    }
    sy_usage_t *u = &ev->usage;
    u->input_tokens = h.usage[0];
    u->output_tokens = h.usage[1];
    u->cache_read_tokens = h.usage[2];
    u->cache_write_tokens = h.usage[3];
    u->total_duration = h.usage[4];
    u->load_duration = h.usage[5];
    u->prompt_eval_duration = h.usage[6];
    u->eval_duration = h.usage[7];
    return need;
}

/* ---- helpers ------------------------------------------------------------ */

int sy_canon_str(sy_arena_t *a, const sy_jval_t *v, sy_str_t *out)
{
    if (v->type != SY_JSTRING || v->len < 2)
        return -1;
    char *d = sy_arena_alloc(a, v->len - 1); /* decoding never lengthens */
    if (!d)
        return -1;
    long n = sy_json_string(v, d, v->len - 1);
    if (n < 0)
        return -1;
    out->p = d;
    out->len = (size_t)n;
    return 0;
}

int sy_canon_dup(sy_arena_t *a, const char *p, size_t n, sy_str_t *out)
{
    char *d = sy_arena_strndup(a, p, n);
    if (!d)
        return -1;
    out->p = d;
    out->len = n;
    return 0;
}

int sy_canon_data_url(sy_str_t url, sy_str_t *media, sy_str_t *data)
{
    static const char b64[] = ";base64,";
    if (url.len < 5 || memcmp(url.p, "data:", 5) != 0)
        return 0;
    const char *m = url.p + 5, *end = url.p + url.len;
    const char *comma = memchr(m, ',', (size_t)(end - m));
    if (!comma || comma - m < 7 || memcmp(comma - 7, b64, 8) != 0)
        return 0;
    media->p = m;
    media->len = (size_t)(comma - 7 - m);
    data->p = comma + 1;
    data->len = (size_t)(end - comma - 1);
    return 1;
}

const char *sy_canon_image_media(sy_str_t data)
{
    static const struct {
        const char *b64, *media;
    } sig[] = {
        {"iVBORw0KGgo", "image/png"}, {"/9j/", "image/jpeg"}, {"R0lGOD", "image/gif"}, {"UklGR", "image/webp"},
    };
    for (size_t i = 0; i < sizeof(sig) / sizeof(sig[0]); i++) {
        size_t n = strlen(sig[i].b64);
        if (data.len >= n && memcmp(data.p, sig[i].b64, n) == 0)
            return sig[i].media;
    }
    return "image/png";
}

int64_t sy_canon_estimate_tokens(size_t bytes)
{
    return bytes ? (int64_t)((bytes + 3) / 4) : 0;
}

int64_t sy_creq_estimate_tokens(const sy_creq_t *q)
{
    size_t bytes = 0;
    int64_t images = 0;
    for (size_t i = 0; i < q->n_msgs; i++) {
        const sy_msg_t *m = &q->msgs[i];
        bytes += 4; /* the role and the turn's framing */
        for (size_t j = 0; j < m->n_parts; j++) {
            if (m->parts[j].kind == SY_PART_TEXT)
                bytes += m->parts[j].text.len;
            else
                images++;
        }
        for (size_t j = 0; j < m->n_calls; j++)
            bytes += m->calls[j].name.len + m->calls[j].args.len;
        bytes += m->thinking.len;
    }
    for (size_t i = 0; i < q->n_tools; i++)
        bytes += q->tools[i].name.len + q->tools[i].description.len + q->tools[i].parameters.len;
    for (size_t i = 0; i < q->n_inputs; i++)
        bytes += q->inputs[i].len;
    /* an image costs on the order of a thousand tokens in every vision model */
    return sy_canon_estimate_tokens(bytes) + images * 1000;
}

/* ---- deep copy ------------------------------------------------------------ */

static int clone_str(sy_arena_t *a, sy_str_t *s)
{
    if (!s->p)
        return 0;
    char *c = sy_arena_alloc(a, s->len ? s->len : 1);
    if (!c)
        return -1;
    memcpy(c, s->p, s->len);
    s->p = c;
    return 0;
}

static int clone_jval(sy_arena_t *a, sy_jval_t *v)
{
    sy_str_t s = {v->p, v->len};
    if (clone_str(a, &s) < 0)
        return -1;
    v->p = s.p;
    return 0;
}

/* Copy n elements of size at *pp into a (pp updated). */
static int clone_array(sy_arena_t *a, void *pp, size_t n, size_t size)
{
    void *src;
    memcpy(&src, pp, sizeof(src));
    if (!src || !n)
        return 0;
    void *dst = sy_arena_alloc(a, n * size);
    if (!dst)
        return -1;
    memcpy(dst, src, n * size);
    memcpy(pp, &dst, sizeof(dst));
    return 0;
}

sy_creq_t *sy_creq_clone(const sy_creq_t *q, sy_arena_t *a)
{
    sy_creq_t *c = sy_arena_alloc(a, sizeof(*c));
    if (!c)
        return NULL;
    *c = *q;
    int bad = clone_str(a, &c->model) | clone_str(a, &c->tool_choice_name) | clone_str(a, &c->format_name) |
              clone_str(a, &c->user) | clone_str(a, &c->suffix);
    bad |= clone_jval(a, &c->temperature) | clone_jval(a, &c->top_p) | clone_jval(a, &c->top_k) |
           clone_jval(a, &c->presence_penalty) | clone_jval(a, &c->frequency_penalty) |
           clone_jval(a, &c->format_schema) | clone_jval(a, &c->keep_alive) | clone_jval(a, &c->think) |
           clone_jval(a, &c->options);
    bad |= clone_array(a, &c->msgs, c->n_msgs, sizeof(*c->msgs));
    for (size_t i = 0; !bad && i < c->n_msgs; i++) {
        sy_msg_t *m = &c->msgs[i];
        bad |= clone_array(a, &m->parts, m->n_parts, sizeof(*m->parts));
        for (size_t j = 0; !bad && j < m->n_parts; j++)
            bad |= clone_str(a, &m->parts[j].text) | clone_str(a, &m->parts[j].url) |
                   clone_str(a, &m->parts[j].data) | clone_str(a, &m->parts[j].media_type);
        bad |= clone_array(a, &m->calls, m->n_calls, sizeof(*m->calls));
        for (size_t j = 0; !bad && j < m->n_calls; j++)
            bad |= clone_str(a, &m->calls[j].id) | clone_str(a, &m->calls[j].name) | clone_str(a, &m->calls[j].args);
        bad |= clone_str(a, &m->tool_call_id) | clone_str(a, &m->tool_name) | clone_str(a, &m->thinking);
    }
    bad |= clone_array(a, &c->tools, c->n_tools, sizeof(*c->tools));
    for (size_t i = 0; !bad && i < c->n_tools; i++)
        bad |= clone_str(a, &c->tools[i].name) | clone_str(a, &c->tools[i].description) |
               clone_jval(a, &c->tools[i].parameters);
    bad |= clone_array(a, &c->stop, c->n_stop, sizeof(*c->stop));
    for (size_t i = 0; !bad && i < c->n_stop; i++)
        bad |= clone_str(a, &c->stop[i]);
    bad |= clone_array(a, &c->inputs, c->n_inputs, sizeof(*c->inputs));
    for (size_t i = 0; !bad && i < c->n_inputs; i++)
        bad |= clone_str(a, &c->inputs[i]);
    return bad ? NULL : c;
}
