/*
 * Every response caseflowd sends (http.h): JSON results, text documents
 * and RFC 9457 problems. Each is queued with the request's extra headers
 * (Allow, Retry-After, WWW-Authenticate) and, while the service stops,
 * Connection: close. The status is kept in the request for its log line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static enum MHD_Result queue(struct cfd_req *r, int status, struct MHD_Response *resp,
                             const char *type)
{
    if (!resp)
        return MHD_NO;
    if (type) /* NULL: no content */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->allow[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->retry_after > 0) {
        char secs[24];
        snprintf(secs, sizeof secs, "%d", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
    if (r->www_authenticate)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"caseflow\"");
    if (atomic_load(&r->http->stopping))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    r->status = status;
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ok;
}

enum MHD_Result cfd_respond_text(struct cfd_req *r, int status, const char *type,
                                 const char *text, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    return queue(r, status, resp, type);
}

enum MHD_Result cfd_respond_html(struct cfd_req *r, int status, char *html)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(html), html, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(html);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
    return queue(r, status, resp, "text/html; charset=utf-8");
}

/* Send body (borrowed) as compact JSON text with a final newline. */
static enum MHD_Result send_json(struct cfd_req *r, int status, const json_t *body,
                                 const char *type)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return MHD_NO;
    size_t len = strlen(text);
    char *line = realloc(text, len + 2);
    if (!line) {
        free(text);
        return MHD_NO;
    }
    line[len] = '\n';
    line[len + 1] = '\0';
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len + 1, line, MHD_RESPMEM_MUST_FREE);
    if (!resp)
        free(line);
    return queue(r, status, resp, type);
}

enum MHD_Result cfd_respond_json(struct cfd_req *r, int status, const json_t *body)
{
    if (!body) {
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        return queue(r, status == 200 ? 204 : status, resp, NULL);
    }
    return send_json(r, status, body, "application/json");
}

/* "CF_EINVALID" → "urn:caseflow:problem:invalid". */
static void problem_type(char *buf, size_t size, int code)
{
    const char *name = cf_err_name(code);
    if (strncmp(name, "CF_E", 4) == 0)
        name += 4;
    int n = snprintf(buf, size, "urn:caseflow:problem:");
    for (; *name && (size_t)n + 1 < size; name++)
        buf[n++] = (char)(*name >= 'A' && *name <= 'Z' ? *name + 32 : *name);
    buf[n] = '\0';
}

enum MHD_Result cfd_respond_problem(struct cfd_req *r, int status, int code, const char *field,
                                    const char *fmt, ...)
{
    char detail[512], type[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    problem_type(type, sizeof type, code);
    r->code = cf_err_name(code);
    json_t *p = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s?}", "type", type, "title",
                          cf_strerror(code), "status", status, "detail", detail, "code",
                          cf_err_name(code), "field", field && *field ? field : NULL);
    if (!p) /* a detail that is not UTF-8 (it quoted the request): say less */
        p = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", type, "title", cf_strerror(code),
                      "status", status, "detail", cf_strerror(code), "code",
                      cf_err_name(code));
    if (!p)
        return MHD_NO;
    if (!json_object_get(p, "field"))
        json_object_set_new(p, "field", json_null());
    enum MHD_Result ok = send_json(r, status, p, "application/problem+json");
    json_decref(p);
    return ok;
}

enum MHD_Result cfd_respond_error(struct cfd_req *r, const cf_error *err)
{
    int status = cf_op_http_status(err);
    if (status == 503 && !r->retry_after)
        r->retry_after = 1;
    return cfd_respond_problem(r, status, err->code ? err->code : CF_EINTERNAL, err->field,
                               "%s", err->message[0] ? err->message : cf_strerror(err->code));
}
