/*
 * Text folding for correlation keys: two spellings of one address or name
 * ("12 High St." and "12, HIGH ST") must give the same bytes, because the
 * engine compares keys byte for byte.
 */
#include <ctype.h>

#include "util-internal.h"

size_t cfp_fold(const char *text, bool upper, char *out, size_t n)
{
    size_t len = 0;
    bool gap = false;

    if (n == 0)
        return 0;
    if (text == NULL)
        text = "";
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        /* Bytes >= 0x80 (UTF-8 letters) are kept as they are. */
        bool word = *p >= 0x80 || isalnum(*p);
        if (!word) {
            gap = len > 0;
            continue;
        }
        /* Full: stop rather than end on a separator. */
        if (len + (gap ? 2 : 1) >= n)
            break;
        if (gap)
            out[len++] = ' ';
        gap = false;
        out[len++] = (char)(*p >= 0x80 ? *p : upper ? toupper(*p) : tolower(*p));
    }
    out[len] = '\0';
    return len;
}

size_t cfp_lower(const char *text, char *out, size_t n)
{
    size_t i = 0;

    if (n == 0)
        return 0;
    if (text == NULL)
        text = "";
    for (; text[i] != '\0' && i + 1 < n; i++) {
        unsigned char c = (unsigned char)text[i];
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    out[i] = '\0';
    return i;
}
