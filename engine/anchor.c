/*
 * Anchors: every signed checkpoint head, appended as one JSON line to a log
 * kept away from the store (another machine's share, a file the inspector
 * receives, a write-once medium). The chain alone cannot show that records
 * after its last checkpoint were cut off, or that the whole store was put
 * back to an older copy: both leave a chain that verifies. An anchor log
 * written at each checkpoint remembers a head the store must still have.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "sign.h"

int cf_anchor_append(const char *path, const json_t *line, cf_error *err)
{
    char *text = json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    size_t n = strlen(text);
    text[n] = '\n'; /* the terminating NUL becomes the line's end: n + 1 bytes */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
    int rc = 0;
    if (fd < 0) {
        rc = cf_err_set(err, CF_EIO, "anchor", "cannot open the anchor log %s: %s", path,
                        strerror(errno));
    } else {
        /* One write of the whole line: appends from several processes never
         * interleave within a line. */
        errno = 0;
        ssize_t w = write(fd, text, n + 1);
        int why = w < 0 ? errno : w != (ssize_t)(n + 1) ? ENOSPC : 0;
        if (!why && fsync(fd) != 0)
            why = errno;
        if (why)
            rc = cf_err_set(err, CF_EIO, "anchor", "cannot write the anchor log %s: %s", path,
                            strerror(why));
        close(fd);
    }
    free(text);
    return rc;
}

int cf_anchor_verify(const char *path, const char *store_id, const char *pk_hex,
                     cf_anchor_lookup lookup, void *ctx, json_t *report, cf_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return cf_err_set(err, errno == ENOENT ? CF_ENOTFOUND : CF_EIO, "anchors",
                          "cannot read the anchor log %s: %s", path, strerror(errno));
    char *line = NULL, msg[256], have[65];
    size_t cap = 0;
    int64_t lineno = 0, checked = 0, others = 0, latest = 0;
    int rc = 0;
    while (!rc && getline(&line, &cap, f) > 0) {
        lineno++;
        json_t *a = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
        const char *fmt = json_string_value(json_object_get(a, "format"));
        const char *sid = json_string_value(json_object_get(a, "store_id"));
        const char *head = json_string_value(json_object_get(a, "head"));
        const char *sig = json_string_value(json_object_get(a, "signature"));
        json_t *ssv = json_object_get(a, "signed_seq"), *atv = json_object_get(a, "at");
        if (!fmt || strcmp(fmt, "caseflow-anchor") != 0 || !sid || !head || !sig ||
            !json_is_integer(ssv) || !json_is_integer(atv)) {
            rc = cf_err_set(err, CF_EINVALID, "anchors", "%s: line %lld is not an anchor",
                            path, (long long)lineno);
        } else if (strcmp(sid, store_id) != 0) {
            others++; /* one log may serve several stores */
        } else {
            int64_t ss = json_integer_value(ssv);
            if (cf_sign_checkpoint_message(msg, sizeof msg, sid, ss, head,
                                           json_integer_value(atv)) != 0 ||
                !cf_sign_verify_hex(pk_hex, msg, sig))
                rc = cf_err_set(err, CF_EINVALID, "anchors",
                                "%s: line %lld: the anchor's signature is not the store's key's",
                                path, (long long)lineno);
            else if (lookup(ctx, ss, have) != 0)
                rc = cf_err_set(err, CF_EINVALID, "anchors",
                                "the store lacks audit record %lld, which the anchor log (%s, line "
                                "%lld) holds signed: records were cut off the end, or the store "
                                "was put back to an older copy",
                                (long long)ss, path, (long long)lineno);
            else if (strcmp(have, head) != 0)
                rc = cf_err_set(err, CF_EINVALID, "anchors",
                                "audit record %lld is not the one the anchor log (%s, line %lld) "
                                "holds signed: the chain was rewritten",
                                (long long)ss, path, (long long)lineno);
            checked++;
            if (ss > latest)
                latest = ss;
        }
        json_decref(a);
    }
    free(line);
    fclose(f);
    if (report)
        json_object_set_new(report, "anchors",
                            json_pack("{s:I, s:I, s:I}", "checked", (json_int_t)checked,
                                      "latest_seq", (json_int_t)latest, "other_stores",
                                      (json_int_t)others));
    if (!rc && !checked)
        rc = cf_err_set(err, CF_EINVALID, "anchors",
                        "the anchor log %s holds no anchor of this store", path);
    return rc;
}
