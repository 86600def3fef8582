/*
 * Error codes and their texts. One X-macro (CF_ERRNO_MAP in caseflow.h)
 * generates the codes, their names, descriptions and sysexits statuses, so
 * the library and the command can never disagree about them. cf_error is
 * caller-allocated: filling it never allocates.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *cf_strerror(int code)
{
    switch (code) {
    case CF_OK:
        return "ok";
#define X(name, c, exit, text) \
    case c:                    \
        return text;
        CF_ERRNO_MAP(X)
#undef X
    default:
        return "unknown error";
    }
}

const char *cf_err_name(int code)
{
    switch (code) {
    case CF_OK:
        return "CF_OK";
#define X(name, c, exit, text) \
    case c:                    \
        return "CF_E" #name;
        CF_ERRNO_MAP(X)
#undef X
    default:
        return "CF_EUNKNOWN";
    }
}

int cf_exit_code(int code)
{
    switch (code) {
    case CF_OK:
        return 0;
#define X(name, c, exit, text) \
    case c:                    \
        return exit;
        CF_ERRNO_MAP(X)
#undef X
    default:
        return 70;
    }
}

const char *cf_version(void)
{
    return PACKAGE_VERSION;
}

void cf_err_clear(cf_error *err)
{
    if (!err)
        return;
    err->code = 0;
    err->field[0] = '\0';
    err->message[0] = '\0';
}

int cf_err_setv(cf_error *err, int code, const char *field, const char *fmt,
                va_list ap)
{
    if (!err)
        return code;
    err->code = code;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    if (fmt)
        vsnprintf(err->message, sizeof err->message, fmt, ap);
    else
        snprintf(err->message, sizeof err->message, "%s", cf_strerror(code));
    /* One line, always: a message is printed as "caseflow: <message>". */
    for (char *p = err->message; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return code;
}

int cf_err_set(cf_error *err, int code, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cf_err_setv(err, code, field, fmt, ap);
    va_end(ap);
    return code;
}
