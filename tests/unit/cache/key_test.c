/*
 * key_test.c - unit tests for src/cache/key.c: one key for one conversation
 * whichever protocol it came in (real bodies through the three decoders),
 * insensitivity to what does not change the answer (stream, protocol,
 * keep_alive, user, raw JSON spelling, numbers' spelling), sensitivity to
 * every field that does (one row per field), the streaming hash against a
 * one-shot hash of the document, and a known answer. The semantic cache's
 * partition key: blind to what was said, sensitive to every other field,
 * pinned by a known answer, never equal to an exact key.
 */
#include "cache/key.h"

#include "api/api.h"

#define OPENSSL_SUPPRESS_DEPRECATED
#include <criterion/criterion.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(lit) ((sy_str_t){(lit), sizeof(lit) - 1})

static sy_arena_t A;

static void setup(void)
{
    sy_arena_init(&A, 1u << 24);
}

static void teardown(void)
{
    sy_arena_release(&A);
}

TestSuite(cache_key, .init = setup, .fini = teardown);

/* A raw JSON value from a literal (which must be valid JSON). */
static sy_jval_t jv(const char *s)
{
    cr_assert_eq(sy_json_validate(s, strlen(s), NULL, NULL), 0, "%s", s);
    return sy_json_value(s, strlen(s));
}

/* The key of q as hex, in one of a few rotating static buffers. */
static const char *hexkey_ns(const sy_creq_t *q, const char *ns, const char *model)
{
    static char out[8][65];
    static int next;
    unsigned char k[32];
    cr_assert_eq(sy_cache_key(q, ns, model, k), SY_OK);
    char *o = out[next++ % 8];
    sy_cache_key_hex(k, o);
    return o;
}

static const char *hexkey(const sy_creq_t *q)
{
    return hexkey_ns(q, "t1", NULL);
}

/* The hashed document, for messages that show what differs. */
typedef struct docbuf {
    char *p;
    size_t n, cap;
} docbuf_t;

static int into_doc(void *ud, const char *p, size_t n)
{
    docbuf_t *d = ud;
    if (d->n + n + 1 > d->cap) {
        size_t cap = (d->n + n + 1) * 2;
        char *np = realloc(d->p, cap);
        cr_assert_not_null(np);
        d->p = np, d->cap = cap;
    }
    memcpy(d->p + d->n, p, n);
    d->n += n;
    d->p[d->n] = '\0';
    return 0;
}

/* The document of q (malloc'd; the caller frees). */
static char *doc(const sy_creq_t *q, const char *ns, const char *model, size_t *len)
{
    docbuf_t d = {NULL, 0, 0};
    cr_assert_eq(sy_cache_key_write(q, ns, model, into_doc, &d), SY_OK);
    if (len)
        *len = d.n;
    return d.p;
}

static void assert_same(const sy_creq_t *a, const sy_creq_t *b, const char *what)
{
    char *da = doc(a, "t1", NULL, NULL), *db = doc(b, "t1", NULL, NULL);
    cr_assert_str_eq(da, db, "%s: documents differ:\n%s\n%s", what, da, db);
    cr_assert_str_eq(hexkey(a), hexkey(b), "%s", what);
    free(da);
    free(db);
}

/* ---- one conversation, three protocols ---------------------------------- */

static void dec_openai(const char *body, sy_op_t op, sy_creq_t *q)
{
    sy_error_t err;
    unsigned flags = 0;
    memset(&err, 0, sizeof err);
    sy_err_t rc = sy_api_openai_decode(body, strlen(body), op, &A, q, &flags, &err);
    cr_assert_eq(rc, SY_OK, "openai: %s (%s)", err.message, err.param);
}

static void dec_ollama(const char *body, sy_op_t op, sy_creq_t *q)
{
    sy_error_t err;
    unsigned flags = 0;
    memset(&err, 0, sizeof err);
    sy_err_t rc = sy_api_ollama_decode(body, strlen(body), op, &A, q, &flags, &err);
    cr_assert_eq(rc, SY_OK, "ollama: %s (%s)", err.message, err.param);
}

static void dec_anthropic(const char *body, sy_creq_t *q)
{
    sy_error_t err;
    memset(&err, 0, sizeof err);
    sy_err_t rc = sy_api_anthropic_decode(body, strlen(body), &A, q, &err);
    cr_assert_eq(rc, SY_OK, "anthropic: %s (%s)", err.message, err.param);
}

Test(cache_key, tool_conversation_openai_and_anthropic)
{
    /* the same conversation with a tool call and its result; the schema and
     * arguments in another member order and spacing, 0.7 spelled 0.70, one
     * streamed and one not */
    const char *oa = "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                     "\"temperature\":0.7,\"max_tokens\":100,\"user\":\"u-1\",\"messages\":["
                     "{\"role\":\"system\",\"content\":\"Be brief.\"},"
                     "{\"role\":\"user\",\"content\":\"Weather in Paris?\"},"
                     "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":"
                     "\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
                     "\"{\\\"city\\\":\\\"Paris\\\",\\\"days\\\":2}\"}}]},"
                     "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"18C\"}],"
                     "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":"
                     "\"Current weather\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":"
                     "{\"type\":\"string\"}},\"required\":[\"city\"]}}}]}";
    const char *an = "{\"model\":\"m\",\"system\":\"Be brief.\",\"max_tokens\":100,\"temperature\":0.70,"
                     "\"metadata\":{\"user_id\":\"someone-else\"},\"messages\":["
                     "{\"role\":\"user\",\"content\":\"Weather in Paris?\"},"
                     "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"call_1\",\"name\":"
                     "\"get_weather\",\"input\":{ \"days\" : 2.0, \"city\" : \"Paris\" }}]},"
                     "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"call_1\","
                     "\"content\":\"18C\"}]}],"
                     "\"tools\":[{\"name\":\"get_weather\",\"description\":\"Current weather\",\"input_schema\":"
                     "{ \"required\" : [\"city\"], \"properties\" : {\"city\":{\"type\":\"string\"}},"
                     "  \"type\" : \"object\" }}]}";
    sy_creq_t a, b;
    dec_openai(oa, SY_OP_CHAT, &a);
    dec_anthropic(an, &b);
    cr_assert(a.stream && !b.stream);
    assert_same(&a, &b, "OpenAI vs Anthropic");
}

Test(cache_key, image_conversation_openai_and_ollama)
{
    /* an inline PNG: an OpenAI data: URL, Ollama's bare base64 (no media
     * type) - Ollama's decoder puts a message's images before its text, so
     * the OpenAI message says them in that order too (part order is hashed:
     * it is what the upstream sees); Ollama's sampling inside options;
     * Ollama streams by default */
    const char *oa = "{\"model\":\"m\",\"temperature\":0.2,\"top_p\":0.9,\"seed\":42,\"max_tokens\":50,"
                     "\"stop\":[\"END\"],\"messages\":["
                     "{\"role\":\"system\",\"content\":\"You describe images.\"},"
                     "{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
                     "\"data:image/png;base64,iVBORw0KGgoAAAA\"}},{\"type\":\"text\",\"text\":\"What is this?\"}]},"
                     "{\"role\":\"assistant\",\"content\":\"A cat.\"},"
                     "{\"role\":\"user\",\"content\":\"Which colour?\"}]}";
    const char *ol = "{\"model\":\"m\",\"keep_alive\":\"10m\",\"options\":{\"seed\":42,\"num_predict\":50,"
                     "\"top_p\":9e-1,\"stop\":[\"END\"],\"temperature\":0.20},\"messages\":["
                     "{\"role\":\"system\",\"content\":\"You describe images.\"},"
                     "{\"role\":\"user\",\"content\":\"What is this?\",\"images\":[\"iVBORw0KGgoAAAA\"]},"
                     "{\"role\":\"assistant\",\"content\":\"A cat.\"},"
                     "{\"role\":\"user\",\"content\":\"Which colour?\"}]}";
    sy_creq_t a, b;
    dec_openai(oa, SY_OP_CHAT, &a);
    dec_ollama(ol, SY_OP_CHAT, &b);
    cr_assert(b.stream && !a.stream);
    assert_same(&a, &b, "OpenAI vs Ollama");
}

Test(cache_key, json_schema_openai_and_ollama)
{
    /* Ollama's format schema has no name: it is sent as "response" */
    const char *oa = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Name a city.\"}],"
                     "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"response\","
                     "\"schema\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}}";
    const char *ol = "{\"model\":\"m\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":"
                     "\"Name a city.\"}],\"format\":{\"properties\":{\"city\":{\"type\":\"string\"}},"
                     "\"type\":\"object\"}}";
    sy_creq_t a, b;
    dec_openai(oa, SY_OP_CHAT, &a);
    dec_ollama(ol, SY_OP_CHAT, &b);
    assert_same(&a, &b, "json_schema vs format");
}

Test(cache_key, embeddings_openai_and_ollama)
{
    sy_creq_t a, b, c;
    dec_openai("{\"model\":\"e\",\"input\":[\"one\",\"two\"]}", SY_OP_EMBED, &a);
    dec_ollama("{\"model\":\"e\",\"input\":[\"one\",\"two\"]}", SY_OP_EMBED, &b);
    assert_same(&a, &b, "embeddings");
    dec_openai("{\"model\":\"e\",\"input\":[\"two\",\"one\"]}", SY_OP_EMBED, &c);
    cr_assert_str_neq(hexkey(&a), hexkey(&c), "input order matters");
}

/* ---- a hand-built request with every field said -------------------------- */

typedef struct fx {
    sy_creq_t q;
    sy_msg_t msgs[4];
    sy_part_t parts[4];
    sy_tool_call_t calls[1];
    sy_tool_t tools[1];
    sy_str_t stop[2];
    sy_str_t inputs[2];
} fx_t;

static void fx_init(fx_t *f)
{
    memset(f, 0, sizeof *f);
    sy_creq_t *q = &f->q;
    sy_creq_init(q, SY_OP_CHAT, SY_PROTO_OPENAI);
    q->model = S("gpt-x");
    f->parts[0] = (sy_part_t){.kind = SY_PART_TEXT, .text = S("Be brief.")};
    f->parts[1] = (sy_part_t){.kind = SY_PART_TEXT, .text = S("What is in the picture?")};
    f->parts[2] = (sy_part_t){.kind = SY_PART_IMAGE, .url = S("https://example.com/cat.png")};
    f->parts[3] = (sy_part_t){.kind = SY_PART_TEXT, .text = S("18C")};
    f->calls[0] = (sy_tool_call_t){S("call_1"), S("get_weather"), S("{\"city\":\"Paris\"}")};
    f->msgs[0] = (sy_msg_t){.role = SY_ROLE_SYSTEM, .parts = &f->parts[0], .n_parts = 1};
    f->msgs[1] = (sy_msg_t){.role = SY_ROLE_USER, .parts = &f->parts[1], .n_parts = 2};
    f->msgs[2] = (sy_msg_t){.role = SY_ROLE_ASSISTANT, .calls = f->calls, .n_calls = 1, .thinking = S("hmm")};
    f->msgs[3] = (sy_msg_t){.role = SY_ROLE_TOOL,
                            .parts = &f->parts[3],
                            .n_parts = 1,
                            .tool_call_id = S("call_1"),
                            .tool_name = S("get_weather")};
    q->msgs = f->msgs;
    q->n_msgs = 4;
    f->tools[0] = (sy_tool_t){S("get_weather"), S("Current weather"),
                              jv("{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}")};
    q->tools = f->tools;
    q->n_tools = 1;
    q->tool_choice = SY_TOOLS_AUTO;
    q->parallel_tool_calls = 1;
    q->temperature = jv("0.5");
    q->top_p = jv("0.9");
    q->top_k = jv("40");
    q->presence_penalty = jv("0.1");
    q->frequency_penalty = jv("0.2");
    q->max_tokens = 64;
    q->seed = 7;
    q->has_seed = 1;
    f->stop[0] = S("END");
    f->stop[1] = S("STOP");
    q->stop = f->stop;
    q->n_stop = 2;
    q->format = SY_FORMAT_SCHEMA;
    q->format_schema = jv("{\"type\":\"object\"}");
    q->format_name = S("answer");
    q->num_ctx = 2048;
    q->options = jv("{\"mirostat\":1,\"temperature\":0.5}");
    q->think = jv("true");
    f->inputs[0] = S("one");
    f->inputs[1] = S("two");
}

/* ---- insensitivity ------------------------------------------------------ */

typedef void (*mut_fn)(fx_t *f);

static void m_stream(fx_t *f) { f->q.stream = 1; }
static void m_include_usage(fx_t *f) { f->q.include_usage = 1; }
static void m_proto_ollama(fx_t *f) { f->q.proto = SY_PROTO_OLLAMA; }
static void m_proto_anthropic(fx_t *f) { f->q.proto = SY_PROTO_ANTHROPIC; }
static void m_keep_alive(fx_t *f) { f->q.keep_alive = jv("\"5m\""); }
static void m_user(fx_t *f) { f->q.user = S("end-user-42"); }
static void m_schema_spelling(fx_t *f)
{
    f->tools[0].parameters = jv("{ \"properties\" : { \"city\" : { \"type\" : \"string\" } } ,\n \"type\":\"object\" }");
}
static void m_schema_escapes(fx_t *f)
{
    f->tools[0].parameters = jv("{\"t\\u0079pe\":\"obj\\u0065ct\",\"properties\":{\"city\":{\"type\":\"string\"}}}");
}
static void m_args_spelling(fx_t *f) { f->calls[0].args = S(" { \"city\" :\n\"Paris\" } "); }
static void m_temp_070(fx_t *f) { f->q.temperature = jv("0.50"); }
static void m_temp_exp(fx_t *f) { f->q.temperature = jv("5e-1"); }
static void m_temp_exp2(fx_t *f) { f->q.temperature = jv("50E-2"); }
static void m_top_k_double(fx_t *f) { f->q.top_k = jv("40.0"); }
static void m_top_k_exp(fx_t *f) { f->q.top_k = jv("4e1"); }
static void m_format_schema_spelling(fx_t *f) { f->q.format_schema = jv("{ \"type\" : \"object\" }"); }
static void m_options_spelling(fx_t *f) { f->q.options = jv("{\"temperature\":0.5, \"mirostat\":1.0}"); }
/* options.temperature is hashed as temperature: its raw copy is left out */
static void m_options_mapped(fx_t *f) { f->q.options = jv("{\"mirostat\":1,\"temperature\":0.9}"); }
static void m_choice_name_unnamed(fx_t *f) { f->q.tool_choice_name = S("ignored"); }
static void m_null_vs_empty(fx_t *f) { f->msgs[0].tool_call_id = (sy_str_t){"", 0}; }
static void m_model_given(fx_t *f) { (void)f; } /* checked below with public_model */

Test(cache_key, what_does_not_change_the_answer)
{
    static const struct {
        const char *name;
        mut_fn m;
    } rows[] = {
        {"stream", m_stream},
        {"include_usage", m_include_usage},
        {"protocol ollama", m_proto_ollama},
        {"protocol anthropic", m_proto_anthropic},
        {"keep_alive", m_keep_alive},
        {"user", m_user},
        {"tool schema member order and whitespace", m_schema_spelling},
        {"tool schema escapes", m_schema_escapes},
        {"tool call args order and whitespace", m_args_spelling},
        {"temperature 0.50", m_temp_070},
        {"temperature 5e-1", m_temp_exp},
        {"temperature 50E-2", m_temp_exp2},
        {"top_k 40.0", m_top_k_double},
        {"top_k 4e1", m_top_k_exp},
        {"format schema spelling", m_format_schema_spelling},
        {"options order and 1.0", m_options_spelling},
        {"options member replaced by its canonical field", m_options_mapped},
        {"tool_choice_name without NAMED", m_choice_name_unnamed},
        {"empty string vs absent", m_null_vs_empty},
        {"nothing", m_model_given},
    };
    fx_t base;
    fx_init(&base);
    char want[65];
    snprintf(want, sizeof want, "%s", hexkey(&base.q));
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fx_t f;
        fx_init(&f);
        rows[i].m(&f);
        cr_assert_str_eq(hexkey(&f.q), want, "%s changed the key", rows[i].name);
    }
}

Test(cache_key, options_left_empty_is_no_options)
{
    fx_t a, b, c;
    fx_init(&a);
    fx_init(&b);
    fx_init(&c);
    a.q.options = jv("{\"temperature\":0.1,\"seed\":3}"); /* both said canonically */
    b.q.options = (sy_jval_t){NULL, 0, SY_JNULL};
    c.q.options = jv("null");
    assert_same(&a.q, &b.q, "filtered-empty options");
    assert_same(&b.q, &c.q, "null options");
}

Test(cache_key, public_model_and_namespace)
{
    fx_t f;
    fx_init(&f);
    char a[65];
    snprintf(a, sizeof a, "%s", hexkey_ns(&f.q, "t1", NULL));
    cr_assert_str_eq(hexkey_ns(&f.q, "t1", "gpt-x"), a, "NULL public_model takes q->model");
    cr_assert_str_neq(hexkey_ns(&f.q, "t1", "alias"), a);
    cr_assert_str_neq(hexkey_ns(&f.q, "t2", NULL), a);
    cr_assert_str_neq(hexkey_ns(&f.q, NULL, NULL), a);
    cr_assert_str_eq(hexkey_ns(&f.q, NULL, NULL), hexkey_ns(&f.q, "", NULL), "NULL namespace is \"\"");
    /* a namespace cannot spill into the model: "t1"+"x" vs "t"+"1x" */
    cr_assert_str_neq(hexkey_ns(&f.q, "t1", "x"), hexkey_ns(&f.q, "t", "1x"));
}

Test(cache_key, image_media_type_from_the_bytes)
{
    /* Ollama's images have no media type; providers that need one get the
     * type the bytes show, so the two are the same image */
    fx_t a, b, c;
    fx_init(&a);
    fx_init(&b);
    fx_init(&c);
    a.parts[2] = (sy_part_t){.kind = SY_PART_IMAGE, .data = S("/9j/4AAQ"), .media_type = S("image/jpeg")};
    b.parts[2] = (sy_part_t){.kind = SY_PART_IMAGE, .data = S("/9j/4AAQ")};
    c.parts[2] = (sy_part_t){.kind = SY_PART_IMAGE, .data = S("/9j/4AAQ"), .media_type = S("image/png")};
    assert_same(&a.q, &b.q, "sniffed media type");
    cr_assert_str_neq(hexkey(&a.q), hexkey(&c.q), "a stated media type counts");
}

/* ---- sensitivity: one row per field that changes the answer --------------- */

static void s_op_generate(fx_t *f) { f->q.op = SY_OP_GENERATE; }
static void s_op_embed(fx_t *f) { f->q.op = SY_OP_EMBED; }
static void s_role(fx_t *f) { f->msgs[0].role = SY_ROLE_USER; }
static void s_text(fx_t *f) { f->parts[0].text = S("Be brief!"); }
static void s_text_case(fx_t *f) { f->parts[0].text = S("be brief."); }
static void s_text_space(fx_t *f) { f->parts[0].text = S("Be brief. "); }
static void s_part_dropped(fx_t *f) { f->msgs[1].n_parts = 1; }
static void s_part_order(fx_t *f)
{
    sy_part_t t = f->parts[1];
    f->parts[1] = f->parts[2];
    f->parts[2] = t;
}
static void s_image_url(fx_t *f) { f->parts[2].url = S("https://example.com/dog.png"); }
static void s_image_data(fx_t *f) { f->parts[2] = (sy_part_t){.kind = SY_PART_IMAGE, .data = S("iVBORw0KGgo")}; }
static void s_image_media(fx_t *f) { f->parts[2].media_type = S("image/jpeg"); }
static void s_image_to_text(fx_t *f) { f->parts[2] = (sy_part_t){.kind = SY_PART_TEXT, .text = S("https://example.com/cat.png")}; }
static void s_call_id(fx_t *f) { f->calls[0].id = S("call_2"); }
static void s_call_name(fx_t *f) { f->calls[0].name = S("get_time"); }
static void s_call_args(fx_t *f) { f->calls[0].args = S("{\"city\":\"Lyon\"}"); }
static void s_call_args_type(fx_t *f) { f->calls[0].args = S("{\"city\":[\"Paris\"]}"); }
static void s_call_args_text(fx_t *f) { f->calls[0].args = S("\"{\\\"city\\\":\\\"Paris\\\"}\""); }
static void s_call_dropped(fx_t *f) { f->msgs[2].n_calls = 0; }
static void s_tool_call_id(fx_t *f) { f->msgs[3].tool_call_id = S("call_9"); }
static void s_tool_name(fx_t *f) { f->msgs[3].tool_name = S("other"); }
static void s_is_error(fx_t *f) { f->msgs[3].is_error = 1; }
static void s_thinking(fx_t *f) { f->msgs[2].thinking = S("hmm."); }
static void s_msg_dropped(fx_t *f) { f->q.n_msgs = 3; }
static void s_msg_order(fx_t *f)
{
    sy_msg_t t = f->msgs[0];
    f->msgs[0] = f->msgs[1];
    f->msgs[1] = t;
}
static void s_tool_name_def(fx_t *f) { f->tools[0].name = S("get_forecast"); }
static void s_tool_desc(fx_t *f) { f->tools[0].description = S("Current weather."); }
static void s_tool_params(fx_t *f) { f->tools[0].parameters = jv("{\"type\":\"object\",\"properties\":{\"town\":{\"type\":\"string\"}}}"); }
static void s_tool_params_none(fx_t *f) { f->tools[0].parameters = (sy_jval_t){NULL, 0, SY_JNULL}; }
static void s_tools_none(fx_t *f) { f->q.n_tools = 0; }
static void s_choice_none(fx_t *f) { f->q.tool_choice = SY_TOOLS_NONE; }
static void s_choice_default(fx_t *f) { f->q.tool_choice = SY_TOOLS_DEFAULT; }
static void s_choice_required(fx_t *f) { f->q.tool_choice = SY_TOOLS_REQUIRED; }
static void s_choice_named(fx_t *f)
{
    f->q.tool_choice = SY_TOOLS_NAMED;
    f->q.tool_choice_name = S("get_weather");
}
static void s_choice_named_other(fx_t *f)
{
    f->q.tool_choice = SY_TOOLS_NAMED;
    f->q.tool_choice_name = S("get_time");
}
static void s_parallel_off(fx_t *f) { f->q.parallel_tool_calls = 0; }
static void s_parallel_unsaid(fx_t *f) { f->q.parallel_tool_calls = -1; }
static void s_temperature(fx_t *f) { f->q.temperature = jv("0.51"); }
static void s_temperature_unsaid(fx_t *f) { f->q.temperature = (sy_jval_t){NULL, 0, SY_JNULL}; }
static void s_temperature_string(fx_t *f) { f->q.temperature = jv("\"0.5\""); }
static void s_top_p(fx_t *f) { f->q.top_p = jv("0.95"); }
static void s_top_k(fx_t *f) { f->q.top_k = jv("41"); }
static void s_presence(fx_t *f) { f->q.presence_penalty = jv("-0.1"); }
static void s_frequency(fx_t *f) { f->q.frequency_penalty = jv("0.25"); }
static void s_max_tokens(fx_t *f) { f->q.max_tokens = 65; }
static void s_max_tokens_unsaid(fx_t *f) { f->q.max_tokens = -1; }
static void s_stop_order(fx_t *f)
{
    f->stop[0] = S("STOP");
    f->stop[1] = S("END");
}
static void s_stop_dropped(fx_t *f) { f->q.n_stop = 1; }
static void s_seed(fx_t *f) { f->q.seed = 8; }
static void s_seed_unsaid(fx_t *f) { f->q.has_seed = 0; }
static void s_format_text(fx_t *f) { f->q.format = SY_FORMAT_TEXT; }
static void s_format_json(fx_t *f) { f->q.format = SY_FORMAT_JSON; }
static void s_format_schema(fx_t *f) { f->q.format_schema = jv("{\"type\":\"array\"}"); }
static void s_format_name(fx_t *f) { f->q.format_name = S("reply"); }
static void s_num_ctx(fx_t *f) { f->q.num_ctx = 4096; }
static void s_num_ctx_unsaid(fx_t *f) { f->q.num_ctx = -1; }
static void s_options_value(fx_t *f) { f->q.options = jv("{\"mirostat\":2,\"temperature\":0.5}"); }
static void s_options_added(fx_t *f) { f->q.options = jv("{\"mirostat\":1,\"temperature\":0.5,\"num_gpu\":1}"); }
static void s_options_unmapped(fx_t *f)
{
    /* temperature unsaid canonically: the raw options member rides along */
    f->q.temperature = (sy_jval_t){NULL, 0, SY_JNULL};
    f->q.options = jv("{\"mirostat\":1,\"temperature\":0.5,\"x\":1}");
}
static void s_think_false(fx_t *f) { f->q.think = jv("false"); }
static void s_think_high(fx_t *f) { f->q.think = jv("\"high\""); }
static void s_think_unsaid(fx_t *f) { f->q.think = (sy_jval_t){NULL, 0, SY_JNULL}; }
static void s_suffix(fx_t *f) { f->q.suffix = S("}"); }
static void s_raw(fx_t *f) { f->q.raw = 1; }
static void s_inputs(fx_t *f)
{
    f->q.inputs = f->inputs;
    f->q.n_inputs = 2;
}
static void s_inputs_one(fx_t *f)
{
    f->q.inputs = f->inputs;
    f->q.n_inputs = 1;
}
static void s_dimensions(fx_t *f) { f->q.dimensions = 256; }
static void s_truncate_off(fx_t *f) { f->q.truncate = 0; }
static void s_truncate_on(fx_t *f) { f->q.truncate = 1; }

Test(cache_key, every_field_that_matters_changes_the_key)
{
    static const struct {
        const char *name;
        mut_fn m;
    } rows[] = {
        {"op generate", s_op_generate},
        {"op embed", s_op_embed},
        {"message role", s_role},
        {"message text", s_text},
        {"message text case", s_text_case},
        {"message text trailing space", s_text_space},
        {"a part dropped", s_part_dropped},
        {"part order", s_part_order},
        {"image url", s_image_url},
        {"image data", s_image_data},
        {"image media type", s_image_media},
        {"image turned text", s_image_to_text},
        {"tool call id", s_call_id},
        {"tool call name", s_call_name},
        {"tool call args", s_call_args},
        {"tool call args type", s_call_args_type},
        {"tool call args: a JSON string, not an object", s_call_args_text},
        {"tool call dropped", s_call_dropped},
        {"tool result id", s_tool_call_id},
        {"tool result name", s_tool_name},
        {"tool result is_error", s_is_error},
        {"thinking", s_thinking},
        {"a message dropped", s_msg_dropped},
        {"message order", s_msg_order},
        {"tool name", s_tool_name_def},
        {"tool description", s_tool_desc},
        {"tool parameters", s_tool_params},
        {"tool parameters absent", s_tool_params_none},
        {"no tools", s_tools_none},
        {"tool_choice none", s_choice_none},
        {"tool_choice default", s_choice_default},
        {"tool_choice required", s_choice_required},
        {"tool_choice named", s_choice_named},
        {"tool_choice named other", s_choice_named_other},
        {"parallel_tool_calls false", s_parallel_off},
        {"parallel_tool_calls unsaid", s_parallel_unsaid},
        {"temperature", s_temperature},
        {"temperature unsaid", s_temperature_unsaid},
        {"temperature as a string", s_temperature_string},
        {"top_p", s_top_p},
        {"top_k", s_top_k},
        {"presence_penalty", s_presence},
        {"frequency_penalty", s_frequency},
        {"max_tokens", s_max_tokens},
        {"max_tokens unsaid", s_max_tokens_unsaid},
        {"stop order", s_stop_order},
        {"a stop dropped", s_stop_dropped},
        {"seed", s_seed},
        {"seed unsaid", s_seed_unsaid},
        {"format text", s_format_text},
        {"format json", s_format_json},
        {"format schema", s_format_schema},
        {"format name", s_format_name},
        {"num_ctx", s_num_ctx},
        {"num_ctx unsaid", s_num_ctx_unsaid},
        {"options value", s_options_value},
        {"options member added", s_options_added},
        {"options member not mapped", s_options_unmapped},
        {"think false", s_think_false},
        {"think high", s_think_high},
        {"think unsaid", s_think_unsaid},
        {"suffix", s_suffix},
        {"raw", s_raw},
        {"inputs", s_inputs},
        {"inputs, one", s_inputs_one},
        {"dimensions", s_dimensions},
        {"truncate false", s_truncate_off},
        {"truncate true", s_truncate_on},
    };
    enum { N = sizeof rows / sizeof rows[0] };
    static char keys[N + 1][65];
    fx_t base;
    fx_init(&base);
    snprintf(keys[N], 65, "%s", hexkey(&base.q));
    for (size_t i = 0; i < N; i++) {
        fx_t f;
        fx_init(&f);
        rows[i].m(&f);
        snprintf(keys[i], 65, "%s", hexkey(&f.q));
        cr_assert_str_neq(keys[i], keys[N], "%s did not change the key", rows[i].name);
    }
    /* and no two rows meet each other */
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + 1; j < N; j++)
            cr_assert_str_neq(keys[i], keys[j], "%s and %s give one key", rows[i].name, rows[j].name);
}

/* ---- boundaries: pieces that concatenate alike ---------------------------- */

Test(cache_key, concatenations_do_not_meet)
{
    sy_part_t p1[2] = {{.kind = SY_PART_TEXT, .text = S("ab")}, {.kind = SY_PART_TEXT, .text = S("c")}};
    sy_part_t p2[2] = {{.kind = SY_PART_TEXT, .text = S("a")}, {.kind = SY_PART_TEXT, .text = S("bc")}};
    sy_part_t p3[1] = {{.kind = SY_PART_TEXT, .text = S("abc")}};
    sy_msg_t m1[2] = {{.role = SY_ROLE_USER, .parts = &p1[0], .n_parts = 1},
                      {.role = SY_ROLE_USER, .parts = &p1[1], .n_parts = 1}};
    sy_msg_t m2[2] = {{.role = SY_ROLE_USER, .parts = &p2[0], .n_parts = 1},
                      {.role = SY_ROLE_USER, .parts = &p2[1], .n_parts = 1}};
    sy_msg_t m3[1] = {{.role = SY_ROLE_USER, .parts = p1, .n_parts = 2}};
    sy_msg_t m4[1] = {{.role = SY_ROLE_USER, .parts = p2, .n_parts = 2}};
    sy_msg_t m5[1] = {{.role = SY_ROLE_USER, .parts = p3, .n_parts = 1}};
    const struct {
        sy_msg_t *m;
        size_t n;
    } convs[] = {{m1, 2}, {m2, 2}, {m3, 1}, {m4, 1}, {m5, 1}};
    char keys[5][65];
    for (size_t i = 0; i < 5; i++) {
        sy_creq_t q;
        sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OPENAI);
        q.model = S("m");
        q.msgs = convs[i].m;
        q.n_msgs = convs[i].n;
        snprintf(keys[i], 65, "%s", hexkey(&q));
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(keys[i], keys[j], "conversations %zu and %zu meet", i, j);
    }
    /* the same for stop sequences and embedding inputs */
    sy_str_t s1[2] = {S("ab"), S("c")}, s2[2] = {S("a"), S("bc")};
    sy_creq_t a, b;
    sy_creq_init(&a, SY_OP_EMBED, SY_PROTO_OPENAI);
    sy_creq_init(&b, SY_OP_EMBED, SY_PROTO_OPENAI);
    a.inputs = s1, a.n_inputs = 2, b.inputs = s2, b.n_inputs = 2;
    cr_assert_str_neq(hexkey(&a), hexkey(&b));
    a.stop = s1, a.n_stop = 2, a.n_inputs = 0, b.stop = s2, b.n_stop = 2, b.n_inputs = 0;
    cr_assert_str_neq(hexkey(&a), hexkey(&b));
    /* text that looks like the document's own syntax stays text */
    sy_part_t evil = {.kind = SY_PART_TEXT, .text = S("x\"}],\"calls\":[],\"role\":\"user")};
    sy_msg_t me = {.role = SY_ROLE_USER, .parts = &evil, .n_parts = 1};
    sy_creq_init(&a, SY_OP_CHAT, SY_PROTO_OPENAI);
    a.msgs = &me, a.n_msgs = 1;
    char *d = doc(&a, "", "m", NULL);
    cr_assert(strstr(d, "\"text\":\"x\\\"}],\\\"calls\\\":[],\\\"role\\\":\\\"user\"") != NULL, "%s", d);
    free(d);
}

/* ---- the hash: streaming equals one shot; a known answer ----------------- */

static void assert_streamed_equals_one_shot(const sy_creq_t *q)
{
    size_t len;
    char *d = doc(q, "ns", NULL, &len);
    unsigned char want[32], got[32];
    SHA256((const unsigned char *)d, len, want);
    cr_assert_eq(sy_cache_key(q, "ns", NULL, got), SY_OK);
    cr_assert_arr_eq(got, want, 32, "streamed hash differs for a %zu-byte document", len);
    free(d);
}

Test(cache_key, streamed_hash_equals_the_document_hash)
{
    fx_t f;
    fx_init(&f);
    assert_streamed_equals_one_shot(&f.q);
    /* texts around and past the hasher's 4 KiB buffer, and one of 8 MiB */
    static const size_t sizes[] = {1, 4000, 4095, 4096, 4097, 8191, 12289, 8u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *big = malloc(sizes[i]);
        cr_assert_not_null(big);
        for (size_t k = 0; k < sizes[i]; k++)
            big[k] = (char)('a' + k % 26);
        f.parts[1].text = (sy_str_t){big, sizes[i]};
        assert_streamed_equals_one_shot(&f.q);
        free(big);
    }
}

Test(cache_key, golden_document)
{
    sy_creq_t q;
    sy_part_t p = {.kind = SY_PART_TEXT, .text = S("Hi")};
    sy_msg_t m = {.role = SY_ROLE_USER, .parts = &p, .n_parts = 1};
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OLLAMA);
    q.model = S("llama3.2");
    q.msgs = &m;
    q.n_msgs = 1;
    q.temperature = jv("0.70");
    q.stream = 1;
    char *d = doc(&q, "default", NULL, NULL);
    cr_assert_str_eq(d, "{\"v\":1,\"ns\":\"default\",\"model\":\"llama3.2\",\"op\":\"chat\",\"messages\":["
                        "{\"role\":\"user\",\"parts\":[{\"text\":\"Hi\"}],\"calls\":[],\"tool_call_id\":\"\","
                        "\"tool_name\":\"\",\"is_error\":false,\"thinking\":\"\"}],\"tools\":[],"
                        "\"tool_choice\":\"default\",\"tool_choice_name\":null,\"parallel_tool_calls\":null,"
                        "\"temperature\":7e-1,\"top_p\":null,\"top_k\":null,\"presence_penalty\":null,"
                        "\"frequency_penalty\":null,\"max_tokens\":null,\"stop\":[],\"seed\":null,"
                        "\"format\":\"text\",\"format_schema\":null,\"format_name\":null,\"num_ctx\":null,"
                        "\"options\":null,\"think\":null,\"suffix\":\"\",\"raw\":false,\"inputs\":[],"
                        "\"dimensions\":null,\"truncate\":null}");
    free(d);
}

/* SHA-256 of the golden document above (checked with sha256sum), and of
 * fx_init's request, which has every field said. */
#define KNOWN_SMALL "3231b7584a6fc886fac2c7ede03da6868a1228d4b1795cf182ed1fc6a52ee7bc"
#define KNOWN_FULL "2007e7104ab11d4b290e99e6ee0b0b3954cb6c4625aa8639310ad621b24359be"

Test(cache_key, known_answer)
{
    /* Pinned: a change here means every stored key changes meaning - bump
     * SY_CACHE_KEY_VERSION and update these on purpose. */
    sy_creq_t q;
    sy_part_t p = {.kind = SY_PART_TEXT, .text = S("Hi")};
    sy_msg_t m = {.role = SY_ROLE_USER, .parts = &p, .n_parts = 1};
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OLLAMA);
    q.model = S("llama3.2");
    q.msgs = &m;
    q.n_msgs = 1;
    q.temperature = jv("0.70");
    cr_assert_str_eq(hexkey_ns(&q, "default", NULL), KNOWN_SMALL);
    fx_t f;
    fx_init(&f);
    cr_assert_str_eq(hexkey_ns(&f.q, "default", NULL), KNOWN_FULL);
}

/* ---- the semantic cache's partition key ---------------------------------- */

/* The partition key of q as hex, in one of a few rotating static buffers. */
static const char *hexpart_ns(const sy_creq_t *q, const char *ns, const char *model)
{
    static char out[8][65];
    static int next;
    unsigned char k[32];
    cr_assert_eq(sy_cache_partition_key(q, ns, model, k), SY_OK);
    char *o = out[next++ % 8];
    sy_cache_key_hex(k, o);
    return o;
}

static const char *hexpart(const sy_creq_t *q)
{
    return hexpart_ns(q, "t1", NULL);
}

/* what was said: every row changes the exact key, none the partition */
static void c_turn_appended(fx_t *f)
{
    f->msgs[3] = (sy_msg_t){.role = SY_ROLE_USER, .parts = &f->parts[0], .n_parts = 1};
}
static void c_no_messages(fx_t *f) { f->q.n_msgs = 0; }
static void c_prompt_only(fx_t *f)
{
    f->q.msgs = &f->msgs[1];
    f->q.n_msgs = 1;
}

Test(cache_key, partition_ignores_what_was_said)
{
    static const struct {
        const char *name;
        mut_fn m;
    } rows[] = {
        {"message role", s_role},
        {"message text", s_text},
        {"a part dropped", s_part_dropped},
        {"part order", s_part_order},
        {"image url", s_image_url},
        {"image data", s_image_data},
        {"tool call id", s_call_id},
        {"tool call name", s_call_name},
        {"tool call args", s_call_args},
        {"tool call dropped", s_call_dropped},
        {"tool result id", s_tool_call_id},
        {"tool result is_error", s_is_error},
        {"thinking", s_thinking},
        {"a message dropped", s_msg_dropped},
        {"message order", s_msg_order},
        {"a turn replaced", c_turn_appended},
        {"no messages", c_no_messages},
        {"one message", c_prompt_only},
        {"suffix", s_suffix},
        {"inputs", s_inputs},
        {"inputs, one", s_inputs_one},
        /* and what changes neither key */
        {"stream", m_stream},
        {"protocol anthropic", m_proto_anthropic},
        {"keep_alive", m_keep_alive},
        {"user", m_user},
        {"tool schema spelling", m_schema_spelling},
        {"temperature 5e-1", m_temp_exp},
    };
    fx_t base;
    fx_init(&base);
    char want[65], exact[65];
    snprintf(want, sizeof want, "%s", hexpart(&base.q));
    snprintf(exact, sizeof exact, "%s", hexkey(&base.q));
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fx_t f;
        fx_init(&f);
        rows[i].m(&f);
        cr_assert_str_eq(hexpart(&f.q), want, "%s changed the partition", rows[i].name);
    }
    /* the content rows do change the exact key (the test can tell) */
    fx_t f;
    fx_init(&f);
    s_text(&f);
    cr_assert_str_neq(hexkey(&f.q), exact);
}

Test(cache_key, partition_of_two_conversations_through_the_decoders)
{
    /* two different conversations with the same settings, one from OpenAI
     * and one from Ollama: one partition; other settings: another */
    const char *oa = "{\"model\":\"m\",\"temperature\":0.2,\"max_tokens\":50,\"messages\":["
                     "{\"role\":\"system\",\"content\":\"Be brief.\"},"
                     "{\"role\":\"user\",\"content\":\"What is the capital of France?\"}]}";
    const char *ol = "{\"model\":\"m\",\"options\":{\"num_predict\":50,\"temperature\":0.20},\"messages\":["
                     "{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"Hello!\"},"
                     "{\"role\":\"user\",\"content\":\"Name a fruit.\"}]}";
    const char *ol2 = "{\"model\":\"m\",\"options\":{\"num_predict\":50,\"temperature\":0.3},\"messages\":["
                      "{\"role\":\"user\",\"content\":\"Name a fruit.\"}]}";
    sy_creq_t a, b, c;
    dec_openai(oa, SY_OP_CHAT, &a);
    dec_ollama(ol, SY_OP_CHAT, &b);
    dec_ollama(ol2, SY_OP_CHAT, &c);
    cr_assert_str_eq(hexpart(&a), hexpart(&b));
    cr_assert_str_neq(hexkey(&a), hexkey(&b));
    cr_assert_str_neq(hexpart(&b), hexpart(&c), "temperature 0.2 vs 0.3");
}

Test(cache_key, partition_changes_with_every_setting)
{
    static const struct {
        const char *name;
        mut_fn m;
    } rows[] = {
        {"op generate", s_op_generate},
        {"op embed", s_op_embed},
        {"tool name", s_tool_name_def},
        {"tool description", s_tool_desc},
        {"tool parameters", s_tool_params},
        {"tool parameters absent", s_tool_params_none},
        {"no tools", s_tools_none},
        {"tool_choice none", s_choice_none},
        {"tool_choice default", s_choice_default},
        {"tool_choice required", s_choice_required},
        {"tool_choice named", s_choice_named},
        {"tool_choice named other", s_choice_named_other},
        {"parallel_tool_calls false", s_parallel_off},
        {"parallel_tool_calls unsaid", s_parallel_unsaid},
        {"temperature", s_temperature},
        {"temperature unsaid", s_temperature_unsaid},
        {"temperature as a string", s_temperature_string},
        {"top_p", s_top_p},
        {"top_k", s_top_k},
        {"presence_penalty", s_presence},
        {"frequency_penalty", s_frequency},
        {"max_tokens", s_max_tokens},
        {"max_tokens unsaid", s_max_tokens_unsaid},
        {"stop order", s_stop_order},
        {"a stop dropped", s_stop_dropped},
        {"seed", s_seed},
        {"seed unsaid", s_seed_unsaid},
        {"format text", s_format_text},
        {"format json", s_format_json},
        {"format schema", s_format_schema},
        {"format name", s_format_name},
        {"num_ctx", s_num_ctx},
        {"num_ctx unsaid", s_num_ctx_unsaid},
        {"options value", s_options_value},
        {"options member added", s_options_added},
        {"options member not mapped", s_options_unmapped},
        {"think false", s_think_false},
        {"think high", s_think_high},
        {"think unsaid", s_think_unsaid},
        {"raw", s_raw},
        {"dimensions", s_dimensions},
        {"truncate false", s_truncate_off},
        {"truncate true", s_truncate_on},
    };
    enum { N = sizeof rows / sizeof rows[0] };
    static char keys[N + 1][65];
    fx_t base;
    fx_init(&base);
    snprintf(keys[N], 65, "%s", hexpart(&base.q));
    for (size_t i = 0; i < N; i++) {
        fx_t f;
        fx_init(&f);
        rows[i].m(&f);
        snprintf(keys[i], 65, "%s", hexpart(&f.q));
        cr_assert_str_neq(keys[i], keys[N], "%s did not change the partition", rows[i].name);
    }
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + 1; j < N; j++)
            cr_assert_str_neq(keys[i], keys[j], "%s and %s give one partition", rows[i].name, rows[j].name);
    /* the tenant and the model */
    char a[65];
    snprintf(a, sizeof a, "%s", hexpart_ns(&base.q, "t1", NULL));
    cr_assert_str_eq(hexpart_ns(&base.q, "t1", "gpt-x"), a, "NULL public_model takes q->model");
    cr_assert_str_neq(hexpart_ns(&base.q, "t1", "alias"), a);
    cr_assert_str_neq(hexpart_ns(&base.q, "t2", NULL), a);
    cr_assert_str_eq(hexpart_ns(&base.q, NULL, NULL), hexpart_ns(&base.q, "", NULL));
    cr_assert_str_neq(hexpart_ns(&base.q, "t1", "x"), hexpart_ns(&base.q, "t", "1x"));
}

Test(cache_key, partition_known_answer_and_never_an_exact_key)
{
    /* the golden request of known_answer: its partition document, hashed
     * here, must be what sy_cache_partition_key hashes */
    static const char want_doc[] =
        "{\"partition\":1,\"ns\":\"default\",\"model\":\"llama3.2\",\"op\":\"chat\",\"tools\":[],"
        "\"tool_choice\":\"default\",\"tool_choice_name\":null,\"parallel_tool_calls\":null,"
        "\"temperature\":7e-1,\"top_p\":null,\"top_k\":null,\"presence_penalty\":null,"
        "\"frequency_penalty\":null,\"max_tokens\":null,\"stop\":[],\"seed\":null,"
        "\"format\":\"text\",\"format_schema\":null,\"format_name\":null,\"num_ctx\":null,"
        "\"options\":null,\"think\":null,\"raw\":false,\"dimensions\":null,\"truncate\":null}";
    sy_creq_t q;
    sy_part_t p = {.kind = SY_PART_TEXT, .text = S("Hi")};
    sy_msg_t m = {.role = SY_ROLE_USER, .parts = &p, .n_parts = 1};
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OLLAMA);
    q.model = S("llama3.2");
    q.msgs = &m;
    q.n_msgs = 1;
    q.temperature = jv("0.70");
    unsigned char want[32], got[32], exact[32];
    SHA256((const unsigned char *)want_doc, sizeof want_doc - 1, want);
    cr_assert_eq(sy_cache_partition_key(&q, "default", NULL, got), SY_OK);
    cr_assert_arr_eq(got, want, 32, "the partition document changed: bump SY_CACHE_PARTITION_VERSION");
    cr_assert_eq(sy_cache_key(&q, "default", NULL, exact), SY_OK);
    cr_assert_arr_neq(got, exact, 32);
    /* the exact key is unchanged by the partition work */
    cr_assert_str_eq(hexkey_ns(&q, "default", NULL), KNOWN_SMALL);
    /* a request with nothing said has a partition key unlike its exact key */
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OPENAI);
    cr_assert_str_neq(hexpart_ns(&q, "", ""), hexkey_ns(&q, "", ""));
}

Test(cache_key, hex)
{
    unsigned char k[32];
    for (int i = 0; i < 32; i++)
        k[i] = (unsigned char)(i * 8 + 7);
    char out[65];
    memset(out, 'x', sizeof out);
    sy_cache_key_hex(k, out);
    cr_assert_str_eq(out, "070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff");
}
