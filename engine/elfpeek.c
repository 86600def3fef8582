/*
 * Reading a string out of a shared object without loading it. When a
 * plugin file is not the build pinned for a workflow the loader refuses it
 * before it is mapped (no constructor of an unknown build may run in the
 * engine's process), yet the refusal names the version the file declares.
 * This reads that text from the bytes: the symbol in the dynamic symbol
 * table, the pointer field inside it, that pointer's relative relocation
 * (RELA addend, else the value stored in place as REL and RELR keep it),
 * and the string it points to, every offset bounds-checked against the
 * buffer. Only the engine's own ELF class and byte order are read; anything
 * else, stripped section headers included, is simply "not found": the
 * result is only ever shown, never trusted.
 */
#include <config.h>

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

#if defined(__ELF__) && __has_include(<link.h>)
#include <link.h>

typedef struct image {
    const unsigned char *p;
    size_t n;
    const ElfW(Ehdr) *eh;
} image;

/* Is [off, off + len) inside the image? */
static bool in(const image *im, uint64_t off, uint64_t len)
{
    return off <= im->n && len <= im->n - off;
}

/* The file offset of len bytes at vaddr, from the loadable segments. */
static bool vaddr_off(const image *im, uint64_t vaddr, uint64_t len, uint64_t *off)
{
    for (unsigned i = 0; i < im->eh->e_phnum; i++) {
        ElfW(Phdr) ph;
        memcpy(&ph, im->p + im->eh->e_phoff + (uint64_t)i * sizeof ph, sizeof ph);
        if (ph.p_type != PT_LOAD || vaddr < ph.p_vaddr || vaddr - ph.p_vaddr > ph.p_filesz ||
            len > ph.p_filesz - (vaddr - ph.p_vaddr))
            continue;
        *off = ph.p_offset + (vaddr - ph.p_vaddr);
        return in(im, *off, len);
    }
    return false;
}

static bool section(const image *im, unsigned i, ElfW(Shdr) *sh)
{
    if (i >= im->eh->e_shnum)
        return false;
    memcpy(sh, im->p + im->eh->e_shoff + (uint64_t)i * sizeof *sh, sizeof *sh);
    return sh->sh_type == SHT_NOBITS || in(im, sh->sh_offset, sh->sh_size);
}

/* The address and size of the defined dynamic symbol name. */
static bool find_symbol(const image *im, const char *name, uint64_t *value, uint64_t *size)
{
    size_t want = strlen(name);
    for (unsigned i = 0; i < im->eh->e_shnum; i++) {
        ElfW(Shdr) sym, str;
        if (!section(im, i, &sym) || sym.sh_type != SHT_DYNSYM ||
            !section(im, sym.sh_link, &str) || str.sh_type != SHT_STRTAB)
            continue;
        for (uint64_t k = 0; k + sizeof(ElfW(Sym)) <= sym.sh_size; k += sizeof(ElfW(Sym))) {
            ElfW(Sym) s;
            memcpy(&s, im->p + sym.sh_offset + k, sizeof s);
            if (s.st_shndx == SHN_UNDEF || s.st_name >= str.sh_size ||
                want >= str.sh_size - s.st_name)
                continue;
            const char *nm = (const char *)im->p + str.sh_offset + s.st_name;
            if (memcmp(nm, name, want + 1) == 0) {
                *value = s.st_value;
                *size = s.st_size;
                return true;
            }
        }
    }
    return false;
}

/* The value the pointer at vaddr will hold once relocated (base 0). */
static bool pointer_at(const image *im, uint64_t vaddr, uint64_t *ptr)
{
    uint64_t off;
    uintptr_t v;
    if (!vaddr_off(im, vaddr, sizeof v, &off))
        return false;
    memcpy(&v, im->p + off, sizeof v);
    *ptr = v;
    for (unsigned i = 0; i < im->eh->e_shnum; i++) {
        ElfW(Shdr) sh;
        if (!section(im, i, &sh) || sh.sh_type != SHT_RELA)
            continue;
        for (uint64_t k = 0; k + sizeof(ElfW(Rela)) <= sh.sh_size; k += sizeof(ElfW(Rela))) {
            ElfW(Rela) r;
            memcpy(&r, im->p + sh.sh_offset + k, sizeof r);
            if (r.r_offset == vaddr && ELF64_R_SYM((uint64_t)r.r_info) == 0) {
                *ptr = (uint64_t)r.r_addend;
                return true;
            }
        }
    }
    return true;
}

bool cf_elf_symbol_string(const void *buf, size_t len, const char *symbol, size_t field,
                          char *out, size_t size)
{
    image im = {buf, len, buf};
    uint64_t value, symsize, str, off;

    if (size == 0)
        return false;
    out[0] = '\0';
    if (len < sizeof(ElfW(Ehdr)) || memcmp(im.p, ELFMAG, SELFMAG) != 0 ||
        im.p[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32))
        return false;
    if (im.eh->e_phentsize != sizeof(ElfW(Phdr)) || im.eh->e_shentsize != sizeof(ElfW(Shdr)) ||
        !in(&im, im.eh->e_phoff, (uint64_t)im.eh->e_phnum * sizeof(ElfW(Phdr))) ||
        !in(&im, im.eh->e_shoff, (uint64_t)im.eh->e_shnum * sizeof(ElfW(Shdr))))
        return false;
    if (!find_symbol(&im, symbol, &value, &symsize) || field + sizeof(void *) > symsize ||
        !pointer_at(&im, value + field, &str))
        return false;
    for (size_t i = 0; i + 1 < size; i++) {
        if (!vaddr_off(&im, str + i, 1, &off))
            return false;
        out[i] = (char)im.p[off];
        if (!out[i])
            return true;
    }
    out[0] = '\0';
    return false; /* longer than out: better nothing than a cut */
}

#else

bool cf_elf_symbol_string(const void *buf, size_t len, const char *symbol, size_t field,
                          char *out, size_t size)
{
    (void)buf, (void)len, (void)symbol, (void)field;
    if (size)
        out[0] = '\0';
    return false;
}

#endif
