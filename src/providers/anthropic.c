/*
 * anthropic.c - the Anthropic egress adapter: a canonical request written
 * as a Messages API body (POST /v1/messages), and Anthropic's answer - a
 * stream of named SSE events or one message object - read back as
 * canonical events (see egress.h).
 *
 * The Messages API is stricter than the canonical form in a few ways, and
 * the encoder bends the request to fit rather than let Anthropic refuse it:
 *
 *   - System text lives in a top-level "system" string: every system
 *     message, wherever it stands in the conversation, is hoisted there, the
 *     text parts joined with a blank line (as the OpenAI adapter joins a
 *     message's parts). Images in a system message have no place there.
 *   - Roles alternate user / assistant. A tool's result is a tool_result
 *     block in a user turn, so consecutive tool results, and a user message
 *     that follows them, become one user turn; any run of messages that
 *     lands on the same role is merged into one turn. Inside a user turn the
 *     tool_result blocks come first (Anthropic requires it), then the rest.
 *   - Empty text blocks are refused by Anthropic: they are left out, and a
 *     message left with no block at all is skipped.
 *   - Tool ids must match [A-Za-z0-9_-]+. A call without an id (Ollama's)
 *     gets "toolu_<message>_<call>"; an id with other characters has them
 *     replaced by '_' and a hash of the original appended, the same way for
 *     the tool_use and for the tool_result that answers it, so the pair
 *     still matches and two different ids stay different.
 *   - A tool result without a tool_call_id (Ollama's carry only the tool's
 *     name) answers the first call of the latest assistant turn that no
 *     result has answered yet - the first such call with its tool_name when
 *     the result names its tool. Results that do carry an id are matched
 *     first, whatever their order.
 *   - Assistant reasoning (thinking) carried back in the history is dropped:
 *     Anthropic accepts a thinking block only with the signature it issued,
 *     which the other protocols do not carry.
 *   - Anthropic has no response-format field: a JSON answer is asked for in
 *     the system text ("Respond with only a JSON object", plus "matching
 *     this JSON Schema: <schema>" for a schema). Nothing enforces it.
 *   - max_tokens is required: the provider's default_max_tokens is sent
 *     when the client said nothing.
 *   - Sampling numbers go as the client wrote them (Anthropic's temperature
 *     range is 0..1, OpenAI's 0..2: Anthropic judges). presence and
 *     frequency penalties and seed have no Anthropic field and are not sent.
 *
 * The stream parser follows the event names: message_start gives the id
 * and the input usage, content_block_start opens a text, thinking or
 * tool_use block (a tool_use block becomes the next canonical tool call;
 * p->block_call maps the block's index to it), content_block_delta carries
 * text, thinking and the tool input's JSON in pieces, message_delta the
 * stop reason and the output usage, message_stop the end. An "error" event
 * ends the parse with the upstream's message; overloaded_error keeps the
 * 529 Anthropic would have answered, so the client sees the same kind of
 * error. Server tools (server_tool_use blocks and their results), citations
 * and thinking signatures have no canonical form and are passed over.
 */
#include <event2/buffer.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonscan.h"
#include "core/jsonw.h"
#include "providers/egress.h"

#define DEFAULT_MAX_TOKENS 4096 /* when the provider's default is unset too */

/* ---- encoding: small helpers --------------------------------------------- */

static sy_err_t bad(sy_error_t *err, sy_err_t code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static sy_err_t bad(sy_error_t *err, sy_err_t code, const char *param, const char *fmt, ...)
{
    char msg[sizeof(err->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sy_error_set(err, code, param, "%s", msg);
    return code;
}

/* Whether a part becomes a content block (empty text does not). */
static int part_counts(const sy_part_t *pt)
{
    return pt->kind == SY_PART_IMAGE || pt->text.len > 0;
}

/* Whether message m gives its Anthropic turn at least one block. */
static int contributes(const sy_msg_t *m)
{
    switch (m->role) {
    case SY_ROLE_SYSTEM:
        return 0;
    case SY_ROLE_TOOL:
        return 1;
    case SY_ROLE_ASSISTANT:
        if (m->n_calls)
            return 1;
        /* fall through */
    case SY_ROLE_USER:
        for (size_t i = 0; i < m->n_parts; i++)
            if (part_counts(&m->parts[i]))
                return 1;
        return 0;
    }
    return 0;
}

/* Tool results travel in user turns. */
static int is_user_side(sy_role_t r)
{
    return r == SY_ROLE_USER || r == SY_ROLE_TOOL;
}

static int id_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/*
 * Write a tool id Anthropic accepts. An empty id is made from where the
 * call stands (messages[msg].tool_calls[k]); an id with characters outside
 * [A-Za-z0-9_-] has each replaced by '_', then "_" and the FNV-1a hash of
 * the original in hex, so that "a.b" and "a:b" do not meet. The same input
 * always gives the same output: a tool_use and its tool_result agree.
 */
static void write_tool_id(struct evbuffer *b, sy_str_t id, size_t msg, size_t k)
{
    if (id.len == 0) {
        evbuffer_add_printf(b, "\"toolu_%zu_%zu\"", msg, k);
        return;
    }
    size_t i;
    for (i = 0; i < id.len && id_char_ok((unsigned char)id.p[i]); i++)
        ;
    if (i == id.len) {
        sy_jw_str(b, id.p, id.len);
        return;
    }
    char chunk[256];
    size_t n = 0;
    uint32_t h = 2166136261u;
    evbuffer_add(b, "\"", 1);
    for (i = 0; i < id.len; i++) {
        unsigned char c = (unsigned char)id.p[i];
        h = (h ^ c) * 16777619u;
        chunk[n++] = id_char_ok(c) ? (char)c : '_';
        if (n == sizeof(chunk)) {
            evbuffer_add(b, chunk, n);
            n = 0;
        }
    }
    evbuffer_add(b, chunk, n);
    evbuffer_add_printf(b, "_%08x\"", (unsigned)h);
}

/* Whether args is empty (meaning {}) or the text of one JSON object. */
static int args_ok(sy_str_t args)
{
    size_t off;
    const char *msg;
    if (sy_str_blank(args))
        return 1;
    if (sy_json_validate(args.p, args.len, &off, &msg) < 0)
        return 0;
    return sy_json_value(args.p, args.len).type == SY_JOBJECT;
}

/* ---- encoding: the conversation ----------------------------------------- */

/* An assistant tool call as the encoder met it: where it stands, which
 * assistant turn holds it, and whether a tool result has answered it. */
typedef struct call_ref {
    const sy_tool_call_t *c;
    size_t msg, k;
    size_t turn;
    int answered;
} call_ref_t;

typedef struct enc {
    const sy_creq_t *q;
    struct evbuffer *b;
    sy_error_t *err;
    call_ref_t *calls; /* the calls of the assistant turns written so far */
    size_t n_calls;
    size_t turn;      /* the turn being written (0, 1, ...) */
    size_t asst_turn; /* the latest assistant turn; SIZE_MAX before one */
} enc_t;

/* {"type":"text","text":...} unless the text is empty; *first places commas. */
static void write_text_block(struct evbuffer *b, int *first, sy_str_t text)
{
    if (text.len == 0)
        return;
    if (!*first)
        SY_JW_LIT(b, ",");
    *first = 0;
    SY_JW_LIT(b, "{\"type\":\"text\",\"text\":");
    sy_jw_str(b, text.p, text.len);
    SY_JW_LIT(b, "}");
}

/* An image block: inline base64 with its media type (guessed from the
 * bytes when the client gave none), or a URL source. A data: URL that
 * reached here undecoded is split into a base64 source. */
static void write_image_block(struct evbuffer *b, int *first, const sy_part_t *pt)
{
    sy_str_t data = pt->data, media = pt->media_type;
    if (!*first)
        SY_JW_LIT(b, ",");
    *first = 0;
    if (pt->url.len && !sy_canon_data_url(pt->url, &media, &data)) {
        SY_JW_LIT(b, "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":");
        sy_jw_str(b, pt->url.p, pt->url.len);
        SY_JW_LIT(b, "}}");
        return;
    }
    SY_JW_LIT(b, "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":");
    if (media.len)
        sy_jw_str(b, media.p, media.len);
    else
        sy_jw_cstr(b, sy_canon_image_media(data));
    SY_JW_LIT(b, ",\"data\":");
    sy_jw_str(b, data.p, data.len);
    SY_JW_LIT(b, "}}");
}

static void write_parts(struct evbuffer *b, int *first, const sy_msg_t *m)
{
    for (size_t i = 0; i < m->n_parts; i++) {
        const sy_part_t *pt = &m->parts[i];
        if (pt->kind == SY_PART_TEXT)
            write_text_block(b, first, pt->text);
        else
            write_image_block(b, first, pt);
    }
}

/* The tool_use blocks of assistant message mi; each call is remembered for
 * the tool results that follow. */
static sy_err_t write_tool_uses(enc_t *e, int *first, size_t mi)
{
    const sy_msg_t *m = &e->q->msgs[mi];
    struct evbuffer *b = e->b;
    for (size_t k = 0; k < m->n_calls; k++) {
        const sy_tool_call_t *c = &m->calls[k];
        if (!args_ok(c->args)) {
            char param[64];
            snprintf(param, sizeof(param), "messages[%zu].tool_calls[%zu].arguments", mi, k);
            return bad(e->err, SY_EBADREQ, param, "%s: the arguments are not a JSON object", param);
        }
        if (!*first)
            SY_JW_LIT(b, ",");
        *first = 0;
        SY_JW_LIT(b, "{\"type\":\"tool_use\",\"id\":");
        write_tool_id(b, c->id, mi, k);
        SY_JW_LIT(b, ",\"name\":");
        sy_jw_str(b, c->name.p, c->name.len);
        SY_JW_LIT(b, ",\"input\":");
        if (sy_str_blank(c->args))
            SY_JW_LIT(b, "{}");
        else
            sy_jw_raw(b, c->args.p, c->args.len);
        SY_JW_LIT(b, "}");
        e->calls[e->n_calls++] = (call_ref_t){.c = c, .msg = mi, .k = k, .turn = e->turn};
    }
    return SY_OK;
}

/* The call of the latest assistant turn a tool result answers: by id, or -
 * for a result without one - the first unanswered call (with the result's
 * tool_name when it has one). NULL when there is none. */
static call_ref_t *find_call(enc_t *e, const sy_msg_t *m)
{
    for (size_t i = 0; i < e->n_calls; i++) {
        call_ref_t *r = &e->calls[i];
        if (r->turn != e->asst_turn)
            continue;
        if (m->tool_call_id.len) {
            if (sy_str_eq(r->c->id, m->tool_call_id))
                return r;
        } else if (!r->answered && (m->tool_name.len == 0 || sy_str_eq(r->c->name, m->tool_name))) {
            return r;
        }
    }
    return NULL;
}

/* A tool_result block for tool message mi answering call r (NULL: the
 * message's own tool_call_id, whichever call that is). The content is a
 * string when it is one text, blocks when it holds images or several
 * parts, and absent when empty. */
static void write_tool_result(enc_t *e, int *first, size_t mi, const call_ref_t *r)
{
    const sy_msg_t *m = &e->q->msgs[mi];
    struct evbuffer *b = e->b;
    size_t nb = 0, text = 0;
    for (size_t i = 0; i < m->n_parts; i++)
        if (part_counts(&m->parts[i])) {
            nb++;
            text = i;
        }
    if (!*first)
        SY_JW_LIT(b, ",");
    *first = 0;
    SY_JW_LIT(b, "{\"type\":\"tool_result\",\"tool_use_id\":");
    if (r)
        write_tool_id(b, r->c->id, r->msg, r->k);
    else
        write_tool_id(b, m->tool_call_id, mi, 0);
    if (nb == 1 && m->parts[text].kind == SY_PART_TEXT) {
        SY_JW_LIT(b, ",\"content\":");
        sy_jw_str(b, m->parts[text].text.p, m->parts[text].text.len);
    } else if (nb) {
        int f = 1;
        SY_JW_LIT(b, ",\"content\":[");
        write_parts(b, &f, m);
        SY_JW_LIT(b, "]");
    }
    if (m->is_error)
        SY_JW_LIT(b, ",\"is_error\":true");
    SY_JW_LIT(b, "}");
}

/*
 * A user turn made of the contributing messages in [from, to): the tool
 * results first, in order, then the user messages' own blocks. The results
 * that name their call are matched first, so that one without an id never
 * takes a call another result answers.
 */
static sy_err_t write_user_turn(enc_t *e, size_t from, size_t to)
{
    const sy_creq_t *q = e->q;
    int first = 1;
    for (size_t i = from; i < to; i++) {
        const sy_msg_t *m = &q->msgs[i];
        call_ref_t *r;
        if (m->role == SY_ROLE_TOOL && m->tool_call_id.len && (r = find_call(e, m)))
            r->answered = 1;
    }
    for (size_t i = from; i < to; i++) {
        const sy_msg_t *m = &q->msgs[i];
        call_ref_t *r = NULL;
        if (m->role != SY_ROLE_TOOL)
            continue;
        if (!m->tool_call_id.len) {
            if (!(r = find_call(e, m))) {
                char param[64];
                snprintf(param, sizeof(param), "messages[%zu].tool_call_id", i);
                return bad(e->err, SY_EBADREQ, param,
                           "%s: a tool result without a tool call id, and no unanswered tool call%s before it "
                           "to match",
                           param, m->tool_name.len ? " of that tool name" : "");
            }
            r->answered = 1;
        }
        write_tool_result(e, &first, i, r);
    }
    for (size_t i = from; i < to; i++)
        if (q->msgs[i].role == SY_ROLE_USER)
            write_parts(e->b, &first, &q->msgs[i]);
    return SY_OK;
}

static sy_err_t write_assistant_turn(enc_t *e, size_t from, size_t to)
{
    const sy_creq_t *q = e->q;
    int first = 1;
    sy_err_t rc;
    e->asst_turn = e->turn;
    for (size_t i = from; i < to; i++) {
        const sy_msg_t *m = &q->msgs[i];
        if (m->role != SY_ROLE_ASSISTANT)
            continue;
        write_parts(e->b, &first, m);
        if ((rc = write_tool_uses(e, &first, i)))
            return rc;
    }
    return SY_OK;
}

/* "messages":[...]: the contributing messages grouped into alternating
 * turns. A turn runs from one contributing message to the next one of the
 * other side; messages that contribute nothing in between are skipped. */
static sy_err_t write_messages(enc_t *e)
{
    const sy_creq_t *q = e->q;
    size_t i = 0;
    sy_err_t rc;
    SY_JW_LIT(e->b, ",\"messages\":[");
    while (i < q->n_msgs) {
        if (!contributes(&q->msgs[i])) {
            i++;
            continue;
        }
        int user = is_user_side(q->msgs[i].role);
        size_t to = i + 1;
        while (to < q->n_msgs && (!contributes(&q->msgs[to]) || is_user_side(q->msgs[to].role) == user))
            to++;
        if (e->turn)
            SY_JW_LIT(e->b, ",");
        if (user)
            SY_JW_LIT(e->b, "{\"role\":\"user\",\"content\":[");
        else
            SY_JW_LIT(e->b, "{\"role\":\"assistant\",\"content\":[");
        if ((rc = user ? write_user_turn(e, i, to) : write_assistant_turn(e, i, to)))
            return rc;
        SY_JW_LIT(e->b, "]}");
        e->turn++;
        i = to;
    }
    SY_JW_LIT(e->b, "]");
    if (e->turn == 0)
        return bad(e->err, SY_EBADREQ, "messages", "messages: there is no message with content to send");
    return SY_OK;
}

/* ---- encoding: the rest of the request ------------------------------------ */

/* The system text's pieces, joined with a blank line: every non-empty text
 * part of every system message, then the response format instruction.
 * Returns whether there is any (writes nothing when b is NULL). */
static int write_system(const sy_creq_t *q, struct evbuffer *b)
{
    int any = 0;
    for (size_t i = 0; i < q->n_msgs; i++) {
        const sy_msg_t *m = &q->msgs[i];
        if (m->role != SY_ROLE_SYSTEM)
            continue;
        for (size_t j = 0; j < m->n_parts; j++) {
            const sy_part_t *pt = &m->parts[j];
            if (pt->kind != SY_PART_TEXT || pt->text.len == 0)
                continue;
            if (b && any)
                SY_JW_LIT(b, "\\n\\n");
            if (b)
                sy_jw_escaped(b, pt->text.p, pt->text.len);
            any = 1;
        }
    }
    if (q->format == SY_FORMAT_TEXT)
        return any;
    if (b) {
        if (any)
            SY_JW_LIT(b, "\\n\\n");
        SY_JW_LIT(b, "Respond with only a JSON object");
        if (q->format == SY_FORMAT_SCHEMA && q->format_schema.p) {
            SY_JW_LIT(b, " matching this JSON Schema: ");
            sy_jw_escaped(b, q->format_schema.p, q->format_schema.len);
        } else {
            SY_JW_LIT(b, ".");
        }
    }
    return 1;
}

static void write_tools(const sy_creq_t *q, struct evbuffer *b)
{
    SY_JW_LIT(b, ",\"tools\":[");
    for (size_t i = 0; i < q->n_tools; i++) {
        const sy_tool_t *t = &q->tools[i];
        if (i)
            SY_JW_LIT(b, ",");
        SY_JW_LIT(b, "{\"name\":");
        sy_jw_str(b, t->name.p, t->name.len);
        if (t->description.len) {
            SY_JW_LIT(b, ",\"description\":");
            sy_jw_str(b, t->description.p, t->description.len);
        }
        SY_JW_LIT(b, ",\"input_schema\":");
        if (t->parameters.p)
            sy_jw_raw(b, t->parameters.p, t->parameters.len);
        else
            SY_JW_LIT(b, "{\"type\":\"object\"}");
        SY_JW_LIT(b, "}");
    }
    SY_JW_LIT(b, "]");
    /* "none" takes no parallel flag; unsaid with parallel calls off says
     * auto to carry the flag */
    int one_call = q->parallel_tool_calls == 0 && q->tool_choice != SY_TOOLS_NONE;
    switch (q->tool_choice) {
    case SY_TOOLS_DEFAULT:
        if (!one_call)
            return;
        /* fall through */
    case SY_TOOLS_AUTO:
        SY_JW_LIT(b, ",\"tool_choice\":{\"type\":\"auto\"");
        break;
    case SY_TOOLS_NONE:
        SY_JW_LIT(b, ",\"tool_choice\":{\"type\":\"none\"");
        break;
    case SY_TOOLS_REQUIRED:
        SY_JW_LIT(b, ",\"tool_choice\":{\"type\":\"any\"");
        break;
    case SY_TOOLS_NAMED:
        SY_JW_LIT(b, ",\"tool_choice\":{\"type\":\"tool\",\"name\":");
        sy_jw_str(b, q->tool_choice_name.p, q->tool_choice_name.len);
        break;
    }
    if (one_call)
        SY_JW_LIT(b, ",\"disable_parallel_tool_use\":true");
    SY_JW_LIT(b, "}");
}

sy_err_t sy__anthropic_encode(const sy_creq_t *q, const char *model, int64_t default_max_tokens,
                              struct evbuffer *out, const char **path, sy_error_t *err)
{
    enc_t e = {.q = q, .b = out, .err = err, .asst_turn = SIZE_MAX};
    size_t n_calls = 0;
    sy_err_t rc = SY_OK;

    if (q->op == SY_OP_EMBED)
        return bad(err, SY_EUNSUPPORTED, NULL, "Anthropic upstreams have no embeddings");
    if (q->suffix.len)
        return bad(err, SY_EBADREQ, "suffix", "suffix: Anthropic upstreams cannot fill in the middle");
    for (size_t i = 0; i < q->n_msgs; i++)
        n_calls += q->msgs[i].role == SY_ROLE_ASSISTANT ? q->msgs[i].n_calls : 0;
    if (n_calls && !(e.calls = calloc(n_calls, sizeof(*e.calls))))
        return bad(err, SY_ENOMEM, NULL, "out of memory encoding the request");

    int64_t max_tokens = q->max_tokens >= 0 ? q->max_tokens
                         : default_max_tokens > 0 ? default_max_tokens
                                                  : DEFAULT_MAX_TOKENS;
    SY_JW_LIT(out, "{\"model\":");
    sy_jw_cstr(out, model);
    SY_JW_LIT(out, ",\"max_tokens\":");
    sy_jw_int(out, max_tokens);
    if (write_system(q, NULL)) {
        SY_JW_LIT(out, ",\"system\":\"");
        write_system(q, out);
        SY_JW_LIT(out, "\"");
    }
    if ((rc = write_messages(&e)))
        goto out;
    if (q->n_stop) {
        SY_JW_LIT(out, ",\"stop_sequences\":[");
        for (size_t i = 0; i < q->n_stop; i++) {
            if (i)
                SY_JW_LIT(out, ",");
            sy_jw_str(out, q->stop[i].p, q->stop[i].len);
        }
        SY_JW_LIT(out, "]");
    }
    static const char *const knames[] = {",\"temperature\":", ",\"top_p\":", ",\"top_k\":"};
    const sy_jval_t *kvals[] = {&q->temperature, &q->top_p, &q->top_k};
    for (size_t i = 0; i < 3; i++)
        if (kvals[i]->p) {
            sy_jw_raw(out, knames[i], strlen(knames[i]));
            sy_jw_raw(out, kvals[i]->p, kvals[i]->len);
        }
    if (q->n_tools)
        write_tools(q, out);
    if (q->user.len) {
        SY_JW_LIT(out, ",\"metadata\":{\"user_id\":");
        sy_jw_str(out, q->user.p, q->user.len);
        SY_JW_LIT(out, "}");
    }
    if (q->stream)
        SY_JW_LIT(out, ",\"stream\":true");
    SY_JW_LIT(out, "}");
    *path = "/v1/messages";
out:
    free(e.calls);
    return rc;
}

/* ---- parsing: helpers ----------------------------------------------------- */

static int is_str(const sy_jval_t *v, const char *lit)
{
    size_t n = strlen(lit);
    return v->p && v->type == SY_JSTRING && v->len == n + 2 && memcmp(v->p + 1, lit, n) == 0;
}

/* A usage object: emit USAGE when it gives any count. */
static int on_usage(sy_eparse_t *p, const sy_jval_t *u)
{
    static const char *const names[] = {"input_tokens", "output_tokens", "cache_read_input_tokens",
                                        "cache_creation_input_tokens"};
    sy_jval_t f[4];
    sy_ev_t ev;
    if (!u->p || u->type != SY_JOBJECT)
        return 0;
    memset(&ev, 0, sizeof(ev));
    ev.kind = SY_EV_USAGE;
    sy_usage_init(&ev.usage);
    sy_json_members(u, names, f, 4, 0);
    int64_t *to[] = {&ev.usage.input_tokens, &ev.usage.output_tokens, &ev.usage.cache_read_tokens,
                     &ev.usage.cache_write_tokens};
    int any = 0;
    for (size_t i = 0; i < 4; i++) {
        int64_t v;
        if (f[i].p && f[i].type == SY_JINT && sy_json_int(&f[i], &v) == 0 && v >= 0) {
            *to[i] = v;
            any = 1;
        }
    }
    if (!any)
        return 0;
    /* Anthropic's input_tokens leaves the cached part out; canonical input
     * counts the whole prompt (canon.h) */
    if (ev.usage.input_tokens >= 0) {
        if (ev.usage.cache_read_tokens > 0)
            ev.usage.input_tokens += ev.usage.cache_read_tokens;
        if (ev.usage.cache_write_tokens > 0)
            ev.usage.input_tokens += ev.usage.cache_write_tokens;
    }
    sy_usage_merge(&p->usage, &ev.usage);
    return sy__eparse_send(p, &ev);
}

/* The HTTP status Anthropic gives each error type, so an error reported in
 * the stream maps to the same answer as one reported by status. */
static int error_status(const sy_jval_t *type)
{
    static const struct {
        const char *type;
        int status;
    } map[] = {
        {"invalid_request_error", 400}, {"authentication_error", 401}, {"billing_error", 402},
        {"permission_error", 403},      {"not_found_error", 404},      {"request_too_large", 413},
        {"rate_limit_error", 429},      {"api_error", 500},            {"timeout_error", 504},
        {"overloaded_error", 529},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (is_str(type, map[i].type))
            return map[i].status;
    return 0;
}

/* {"type":"error","error":{"type":...,"message":...}}: always -1, with
 * p->err the upstream's message (its type when it has none) and the status
 * its type stands for. */
static int on_error(sy_eparse_t *p, const sy_jval_t *obj)
{
    static const char *const names[] = {"type", "message"};
    sy_jval_t e, f[2] = {{NULL, 0, SY_JNULL}, {NULL, 0, SY_JNULL}};
    sy_str_t text = SY_STR_NULL;
    if (sy_json_get(obj, "error", &e) && e.type == SY_JOBJECT) {
        sy_json_members(&e, names, f, 2, 0);
        for (size_t i = 2; i-- > 0 && !text.len;)
            if (f[i].p && f[i].type == SY_JSTRING && sy_canon_str(&p->scratch, &f[i], &text) < 0)
                text = SY_STR_NULL;
    }
    if (text.len)
        sy_error_set(&p->err, SY_EUPSTATUS, NULL, "%.*s", (int)(text.len > 400 ? 400 : text.len), text.p);
    else
        sy_error_set(&p->err, SY_EUPSTATUS, NULL, "the upstream reported an error");
    p->err.status = f[0].p ? error_status(&f[0]) : 0;
    return -1;
}

/* content_block_start and a whole answer's content blocks share this: a
 * block of type text, thinking or tool_use (whole: args = its input). */
static int on_block(sy_eparse_t *p, const sy_jval_t *blk, int block_index, int whole)
{
    static const char *const names[] = {"type", "text", "thinking", "id", "name", "input"};
    enum { B_TYPE, B_TEXT, B_THINKING, B_ID, B_NAME, B_INPUT };
    sy_jval_t f[6];
    sy_ev_t ev;
    if (blk->type != SY_JOBJECT)
        return sy__eparse_fail(p, "Anthropic content block is not an object");
    sy_json_members(blk, names, f, 6, 0);
    memset(&ev, 0, sizeof(ev));
    if (is_str(&f[B_TYPE], "text") || is_str(&f[B_TYPE], "thinking")) {
        int text = is_str(&f[B_TYPE], "text");
        sy_jval_t *v = text ? &f[B_TEXT] : &f[B_THINKING];
        if (!v->p)
            return whole ? sy__eparse_fail(p, "Anthropic %s block without its %s", text ? "text" : "thinking",
                                      text ? "text" : "thinking")
                         : 0;
        if (sy__eparse_str(p, v, text ? "text" : "thinking", &ev.text) < 0)
            return -1;
        if (ev.text.len == 0)
            return 0;
        ev.kind = text ? SY_EV_TEXT : SY_EV_THINKING;
        return sy__eparse_send(p, &ev);
    }
    if (!is_str(&f[B_TYPE], "tool_use"))
        return 0; /* redacted thinking, server tools and their results */
    if (!f[B_NAME].p)
        return sy__eparse_fail(p, "Anthropic tool_use block without a name");
    if (sy__eparse_str(p, &f[B_NAME], "tool name", &ev.name) < 0 ||
        (f[B_ID].p && sy__eparse_str(p, &f[B_ID], "tool id", &ev.id) < 0))
        return -1;
    ev.kind = SY_EV_TOOL_CALL;
    ev.index = p->n_calls++;
    if (block_index >= 0)
        p->block_call[block_index] = ev.index;
    if (whole) {
        if (f[B_INPUT].p && f[B_INPUT].type != SY_JOBJECT)
            return sy__eparse_fail(p, "Anthropic tool_use input is not an object");
        if (f[B_INPUT].p)
            ev.args = (sy_str_t){f[B_INPUT].p, f[B_INPUT].len};
    }
    return sy__eparse_send(p, &ev);
}

/* stop_reason and stop_sequence (message_delta's delta, or a whole
 * message): FINISH, once. A null stop reason is no finish yet. */
static int on_stop(sy_eparse_t *p, const sy_jval_t *obj, int whole)
{
    sy_jval_t reason, seq;
    sy_ev_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = SY_EV_FINISH;
    if (sy_json_get(obj, "stop_reason", &reason) && reason.type == SY_JSTRING) {
        sy_str_t s;
        if (sy__eparse_str(p, &reason, "stop_reason", &s) < 0)
            return -1;
        ev.finish = sy_finish_from_anthropic(s.p, s.len);
    }
    if (ev.finish == SY_FINISH_NONE) {
        if (!whole)
            return 0;
        ev.finish = SY_FINISH_STOP;
    }
    if (p->finished)
        return 0;
    if (sy_json_get(obj, "stop_sequence", &seq) && seq.type == SY_JSTRING &&
        sy__eparse_str(p, &seq, "stop_sequence", &ev.stop_sequence) < 0)
        return -1;
    return sy__eparse_send(p, &ev);
}

/* ---- parsing: the stream -------------------------------------------------- */

/* The content block index of a block event, checked against the bound. */
static int block_index(sy_eparse_t *p, const sy_jval_t *obj, int *out)
{
    sy_jval_t v;
    int64_t i;
    if (!sy_json_get(obj, "index", &v) || v.type != SY_JINT || sy_json_int(&v, &i) < 0 || i < 0)
        return sy__eparse_fail(p, "Anthropic content block event without a valid index");
    if (i >= SY_EPARSE_MAX_BLOCKS)
        return sy__eparse_fail(p, "Anthropic answer with more than %d content blocks", SY_EPARSE_MAX_BLOCKS);
    *out = (int)i;
    return 0;
}

static int on_delta(sy_eparse_t *p, const sy_jval_t *obj)
{
    static const char *const names[] = {"type", "text", "thinking", "partial_json"};
    enum { D_TYPE, D_TEXT, D_THINKING, D_JSON };
    sy_jval_t d, f[4];
    sy_ev_t ev;
    int bi;
    if (block_index(p, obj, &bi) < 0)
        return -1;
    if (!sy_json_get(obj, "delta", &d) || d.type != SY_JOBJECT)
        return sy__eparse_fail(p, "Anthropic content_block_delta without a delta object");
    sy_json_members(&d, names, f, 4, 0);
    memset(&ev, 0, sizeof(ev));
    if (is_str(&f[D_TYPE], "text_delta") && f[D_TEXT].p) {
        ev.kind = SY_EV_TEXT;
        if (sy__eparse_str(p, &f[D_TEXT], "text", &ev.text) < 0)
            return -1;
    } else if (is_str(&f[D_TYPE], "thinking_delta") && f[D_THINKING].p) {
        ev.kind = SY_EV_THINKING;
        if (sy__eparse_str(p, &f[D_THINKING], "thinking", &ev.text) < 0)
            return -1;
    } else if (is_str(&f[D_TYPE], "input_json_delta") && f[D_JSON].p) {
        if (p->block_call[bi] < 0)
            return 0; /* a server tool's input */
        ev.kind = SY_EV_TOOL_CALL;
        ev.index = p->block_call[bi];
        if (sy__eparse_str(p, &f[D_JSON], "partial_json", &ev.args) < 0)
            return -1;
        if (ev.args.len == 0)
            return 0;
    } else {
        return 0; /* signature_delta, citations_delta, and what comes later */
    }
    if (ev.text.len == 0 && ev.kind != SY_EV_TOOL_CALL)
        return 0;
    return sy__eparse_send(p, &ev);
}

static int on_message_start(sy_eparse_t *p, const sy_jval_t *obj)
{
    sy_jval_t m, v;
    sy_str_t id = SY_STR_NULL;
    if (!sy_json_get(obj, "message", &m) || m.type != SY_JOBJECT)
        return sy__eparse_fail(p, "Anthropic message_start without a message object");
    if (sy_json_get(&m, "id", &v) && v.type == SY_JSTRING && sy__eparse_str(p, &v, "message id", &id) < 0)
        return -1;
    int rc = sy__eparse_start(p, id);
    if (rc)
        return rc;
    if (sy_json_get(&m, "usage", &v))
        return on_usage(p, &v);
    return 0;
}

static int name_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* One SSE event of the stream. The event's name says what it is; an event
 * without a name goes by its data's "type". Events after message_stop and
 * names this parser does not know are passed over. */
static int on_sse(void *ud, const sy_sse_event_t *sev)
{
    sy_eparse_t *p = ud;
    size_t off, nl;
    const char *msg, *name;
    sy_jval_t v;
    if (!sev->data || p->ended)
        return 0;
    sy_arena_reset(&p->scratch);
    if (sy_json_validate(sev->data, sev->data_len, &off, &msg) < 0)
        return sy__eparse_fail(p, "Anthropic stream event is not valid JSON (%s at byte %zu)", msg, off);
    sy_jval_t obj = sy_json_value(sev->data, sev->data_len);
    if (obj.type != SY_JOBJECT)
        return sy__eparse_fail(p, "Anthropic stream event is not a JSON object");
    if (sev->event) {
        name = sev->event, nl = sev->event_len;
    } else if (sy_json_get(&obj, "type", &v) && v.type == SY_JSTRING) {
        name = v.p + 1, nl = v.len - 2; /* an escaped name matches nothing below */
    } else {
        return 0;
    }
    if (name_is(name, nl, "message_start"))
        return on_message_start(p, &obj);
    if (name_is(name, nl, "content_block_start")) {
        int bi;
        if (block_index(p, &obj, &bi) < 0)
            return -1;
        if (!sy_json_get(&obj, "content_block", &v))
            return sy__eparse_fail(p, "Anthropic content_block_start without a content_block");
        return on_block(p, &v, bi, 0);
    }
    if (name_is(name, nl, "content_block_delta"))
        return on_delta(p, &obj);
    if (name_is(name, nl, "message_delta")) {
        int rc = 0;
        if (sy_json_get(&obj, "delta", &v) && v.type == SY_JOBJECT && (rc = on_stop(p, &v, 0)))
            return rc;
        if (sy_json_get(&obj, "usage", &v))
            return on_usage(p, &v);
        return 0;
    }
    if (name_is(name, nl, "message_stop")) {
        p->ended = 1;
        return 0;
    }
    if (name_is(name, nl, "error"))
        return on_error(p, &obj);
    return 0; /* ping, content_block_stop, and events added later */
}

int sy__anthropic_feed(sy_eparse_t *p, const char *data, size_t len)
{
    return sy__eparse_split_rc(p, sy_sse_feed(&p->sse, data, len, on_sse, p));
}

/* The body ended: an event still held without its blank line is complete
 * now; without message_stop the answer was cut short - also when that last
 * event does not read, being the part of an event the upstream got out. */
int sy__anthropic_end(sy_eparse_t *p)
{
    int rc;
    if (sy_sse_pending(&p->sse) && (rc = sy__eparse_split_rc(p, sy_sse_feed(&p->sse, "\n\n", 2, on_sse, p))) &&
        !(rc == -1 && p->err.code == SY_EUPPROTO && !p->ended))
        return rc;
    if (!p->ended) {
        sy_error_set(&p->err, SY_EUPCLOSED, NULL, "the Anthropic stream ended before message_stop");
        return -1;
    }
    if (!p->finished) { /* message_stop without a stop reason: it did end */
        sy_ev_t ev;
        memset(&ev, 0, sizeof(ev));
        ev.kind = SY_EV_FINISH;
        ev.finish = SY_FINISH_STOP;
        return sy__eparse_send(p, &ev);
    }
    return 0;
}

/* ---- parsing: a whole answer --------------------------------------------- */

int sy__anthropic_whole(sy_eparse_t *p, const char *body, size_t len)
{
    static const char *const names[] = {"type", "id", "content", "usage"};
    enum { W_TYPE, W_ID, W_CONTENT, W_USAGE };
    size_t pos = 0;
    sy_jval_t f[4], blk, obj;
    sy_str_t id = SY_STR_NULL;
    int rc;
    if (sy__eparse_object(p, body, len, &obj) < 0)
        return -1;
    sy_json_members(&obj, names, f, 4, 0);
    if (is_str(&f[W_TYPE], "error"))
        return on_error(p, &obj);
    if (!f[W_CONTENT].p || f[W_CONTENT].type != SY_JARRAY)
        return sy__eparse_fail(p, "Anthropic answer without a content array");
    sy_arena_reset(&p->scratch);
    if (f[W_ID].p && f[W_ID].type == SY_JSTRING && sy__eparse_str(p, &f[W_ID], "message id", &id) < 0)
        return -1;
    if ((rc = sy__eparse_start(p, id)))
        return rc;
    while (sy_json_next_element(&f[W_CONTENT], &pos, &blk)) {
        sy_arena_reset(&p->scratch);
        if ((rc = on_block(p, &blk, -1, 1)))
            return rc;
    }
    sy_arena_reset(&p->scratch);
    if ((rc = on_stop(p, &obj, 1)))
        return rc;
    if (f[W_USAGE].p)
        return on_usage(p, &f[W_USAGE]);
    return 0;
}
