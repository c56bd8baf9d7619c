/* config.c - table-driven options over INI files (libinih) and command-line flags. */
#define _POSIX_C_SOURCE 200809L
#include "fm/config.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fm/commands.h"
#include "fm/common.h"

static const FmOption *find(const FmOptTable *tab, const char *name) {
    for (size_t i = 0; i < tab->count; i++)
        if (strcmp(tab->opts[i].name, name) == 0) return &tab->opts[i];
    return NULL;
}

static int parse_bool(const char *v, int *out) {
    if (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
        *out = 1;
    else if (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
        *out = 0;
    else
        return -1;
    return 0;
}

void fm_opts_defaults(const FmOptTable *tab, void *cfg) {
    for (size_t i = 0; i < tab->count; i++) {
        int rc = fm_opts_set(tab, cfg, tab->opts[i].name, tab->opts[i].def);
        FM_CHECK(rc == 0, "bad default for --%s: %s", tab->opts[i].name, fm_err_msg());
    }
}

int fm_opts_set(const FmOptTable *tab, void *cfg, const char *name, const char *value) {
    const FmOption *o = find(tab, name);
    if (!o) return fm_err_set("unknown option '%s' for 'fmtrain %s' (see fmtrain %s --help)", name, tab->command, tab->command);
    char *field = (char *)cfg + o->offset, *end = NULL;
    errno = 0;
    switch (o->type) {
    case FM_OPT_INT: {
        long long v = strtoll(value, &end, 10);
        if (!*value || *end || errno)
            return fm_err_set("invalid value '%s' for --%s: expected an integer", value, name);
        if ((double)v < o->min || (double)v > o->max)
            return fm_err_set("value %lld for --%s is out of range [%.15g, %.15g]", v, name, o->min, o->max);
        *(long *)field = (long)v;
        break;
    }
    case FM_OPT_DOUBLE: {
        double v = strtod(value, &end);
        if (errno == ERANGE && fabs(v) < 1) errno = 0; /* underflow to a subnormal or 0 is fine */
        if (!*value || *end || errno || !isfinite(v))
            return fm_err_set("invalid value '%s' for --%s: expected a finite number", value, name);
        if (v < o->min || v > o->max)
            return fm_err_set("value %g for --%s is out of range [%g, %g]", v, name, o->min, o->max);
        *(double *)field = v;
        break;
    }
    case FM_OPT_BOOL: {
        int b;
        if (parse_bool(value, &b))
            return fm_err_set("invalid value '%s' for --%s: expected 1/0, true/false or yes/no", value, name);
        *(int *)field = b;
        break;
    }
    case FM_OPT_STRING:
        if (strlen(value) >= o->size)
            return fm_err_set("value for --%s is too long (%zu characters, at most %zu)", name, strlen(value),
                              o->size - 1);
        memcpy(field, value, strlen(value) + 1);
        break;
    }
    return 0;
}

/* The commands whose sections a config file may hold: one file can serve several commands
 * (e.g. [train] and [sample]), and each command skips the others' sections. */
#define COMMAND_NAME(name, run) name,
static const char *const COMMAND_NAMES[] = {FM_COMMANDS(COMMAND_NAME)};
#undef COMMAND_NAME
#define NCOMMANDS (sizeof COMMAND_NAMES / sizeof COMMAND_NAMES[0])

typedef struct {
    const FmOptTable *tab;
    void *cfg;
    const char *source;
    const char *next; /* the text not yet handed to inih */
    int line;         /* the line inih is parsing (1-based) */
    int section_line; /* the line of the latest [section] header */
    int failed;
} IniCtx;

/* inih's line reader (fgets-like) over the file's text. Leading blanks are dropped: inih would
 * take an indented line for the continuation of the previous key's value (multi-line values),
 * where an indented 'steps = 5' means an ordinary key. Counting lines here gives the handler
 * the line it is called for. */
static char *ini_read_line(char *buf, int size, void *user) {
    IniCtx *c = user;
    if (!*c->next) return NULL;
    const char *p = c->next, *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
    c->next = p + n;
    c->line++;
    while (n && (*p == ' ' || *p == '\t')) p++, n--;
    if (n > (size_t)size - 1) n = (size_t)size - 1; /* not reached: fm_opts_load_file refuses long lines */
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (buf[0] == '[' && strchr(buf, ']')) c->section_line = c->line;
    return buf;
}

static int is_command(const char *name) {
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(name, COMMAND_NAMES[i])) return 1;
    return 0;
}

static int on_ini_line(void *user, const char *section, const char *name, const char *value) {
    IniCtx *c = user;
    if (c->failed) return 1;
    if (section[0] && strcmp(section, c->tab->command) && strcmp(section, "fmtrain")) {
        if (is_command(section)) return 1; /* another command's section */
        /* a misspelt [trian] or [Train] must not drop its keys silently */
        char known[512];
        int used = snprintf(known, sizeof known, "[%s], [fmtrain]", c->tab->command);
        for (size_t i = 0; i < NCOMMANDS && used > 0 && (size_t)used < sizeof known; i++)
            if (strcmp(COMMAND_NAMES[i], c->tab->command))
                used += snprintf(known + used, sizeof known - (size_t)used, ", [%s]", COMMAND_NAMES[i]);
        fm_err_set("%s:%d: unknown section [%s] (known: %s)", c->source, c->section_line, section, known);
        c->failed = 1;
        return 1;
    }
    if (strcmp(name, "config") == 0) {
        fm_err_set("%s:%d: 'config' cannot be set inside a config file", c->source, c->line);
        c->failed = 1;
        return 1;
    }
    if (fm_opts_set(c->tab, c->cfg, name, value)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", fm_err_msg());
        fm_err_set("%s:%d: %s", c->source, c->line, msg);
        c->failed = 1;
    }
    return 1;
}

/* Debian's libinih reads lines of at most INI_LINE_MAX - 1 characters and silently splits
 * longer ones; refuse them with a clear message instead. */
#define INI_LINE_MAX 200
/* A config file is a few dozen lines; a bigger one is something else (e.g. --config /dev/zero). */
#define INI_FILE_MAX (1 << 20)

/* The whole file as a string (malloc'ed), or NULL with fm_err_set: a directory, a read error
 * anywhere in the file and an oversized file are errors, never an empty configuration. */
static char *read_text(const char *path, size_t *len) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fm_err_set("cannot open config file '%s': %s", path, strerror(errno));
        return NULL;
    }
    char *text = fm_calloc(INI_FILE_MAX + 1, 1);
    size_t n = fread(text, 1, INI_FILE_MAX + 1, f);
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (err || n > INI_FILE_MAX) {
        if (err == EISDIR)
            fm_err_set("config file '%s' is a directory", path);
        else if (err)
            fm_err_set("cannot read config file '%s': %s", path, strerror(err));
        else
            fm_err_set("config file '%s' is larger than %d bytes", path, INI_FILE_MAX);
        free(text);
        return NULL;
    }
    text[n] = '\0';
    *len = n;
    return text;
}

int fm_opts_load_file(const FmOptTable *tab, void *cfg, const char *path) {
    size_t len;
    char *text = read_text(path, &len);
    if (!text) return -1;
    const char *body = text;
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) body += 3, len -= 3; /* a UTF-8 byte order mark */
    /* every line must fit inih's buffer (its leading blanks are not passed on), and a NUL byte
     * would end the text early, silently dropping the lines after it */
    int line = 1, leading = 1;
    size_t width = 0;
    for (size_t i = 0; i < len; i++) {
        const char ch = body[i];
        if (ch == '\n') {
            line++, width = 0, leading = 1;
        } else if (ch == '\0') {
            free(text);
            return fm_err_set("%s:%d: a NUL byte (not a text file?)", path, line);
        } else if (!leading || (ch != ' ' && ch != '\t')) {
            leading = 0;
            if (++width >= INI_LINE_MAX) {
                free(text);
                return fm_err_set("%s:%d: line longer than %d characters", path, line, INI_LINE_MAX - 1);
            }
        }
    }
    IniCtx ctx = {tab, cfg, path, body, 0, 0, 0};
    int rc = ini_parse_stream(ini_read_line, &ctx, on_ini_line, &ctx);
    free(text);
    if (rc == -2) return fm_err_set("out of memory reading config file '%s'", path);
    if (ctx.failed) return -1;
    if (rc > 0) return fm_err_set("%s:%d: malformed line (expected 'key = value' or '[section]')", path, rc);
    return 0;
}

/* The stored text is ours (fm_opts_format: "key = value" lines of any length), so it is
 * read here directly rather than through inih and its line limit. */
int fm_opts_load_string(const FmOptTable *tab, void *cfg, const char *text) {
    int lineno = 0;
    for (const char *p = text; *p;) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        lineno++;
        char *line = fm_calloc(n + 1, 1);
        memcpy(line, p, n);
        p += n + (end ? 1 : 0);
        char *eq = strstr(line, " = ");
        int rc = 0;
        if (n == 0 || line[0] == ';' || line[0] == '#' || line[0] == '[') {
            /* blank, comment or section line */
        } else if (!eq) {
            rc = fm_err_set("stored configuration: malformed line %d", lineno);
        } else {
            *eq = '\0';
            if (fm_opts_set(tab, cfg, line, eq + 3)) {
                char msg[1024];
                snprintf(msg, sizeof msg, "%s", fm_err_msg());
                rc = fm_err_set("stored configuration: %s", msg);
            }
        }
        free(line);
        if (rc) return rc;
    }
    return 0;
}

int fm_opts_parse(const FmOptTable *tab, void *cfg, int argc, char **argv, int *help) {
    *help = 0;
    fm_opts_defaults(tab, cfg);
    /* pass 1: --help and --config (skipping the values of other options) */
    for (int i = 0; i < argc; i++) {
        const FmOption *o = strncmp(argv[i], "--", 2) ? NULL : find(tab, argv[i] + 2);
        if (o && o->type != FM_OPT_BOOL) {
            i++;
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            *help = 1;
            return 0;
        }
        const char *file = NULL;
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) return fm_err_set("--config needs a file name");
            file = argv[++i];
        } else if (!strncmp(argv[i], "--config=", 9)) {
            file = argv[i] + 9;
        }
        if (file && fm_opts_load_file(tab, cfg, file)) return -1;
    }
    /* pass 2: the flags, in order */
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) || !a[2]) return fm_err_set("unexpected argument '%s' (options are --name value)", a);
        char name[64];
        const char *value = NULL, *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (len >= sizeof name) return fm_err_set("unknown option '%.60s...'", a);
        memcpy(name, a + 2, len);
        name[len] = '\0';
        if (!strcmp(name, "config")) {
            if (!eq) i++;
            continue;
        }
        const FmOption *o = find(tab, name);
        if (!o)
            return fm_err_set("unknown option '--%s' for 'fmtrain %s' (see fmtrain %s --help)", name, tab->command,
                              tab->command);
        if (eq)
            value = eq + 1;
        else if (o->type == FM_OPT_BOOL && (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2)))
            value = "1"; /* a bare boolean flag */
        else if (i + 1 >= argc)
            return fm_err_set("option --%s needs a value", name);
        else
            value = argv[++i];
        if (fm_opts_set(tab, cfg, name, value)) return -1;
    }
    return 0;
}

static void format_value(char *buf, size_t size, const FmOption *o, const void *cfg) {
    const char *field = (const char *)cfg + o->offset;
    switch (o->type) {
    case FM_OPT_INT: snprintf(buf, size, "%ld", *(const long *)field); break;
    case FM_OPT_DOUBLE: { /* the shortest text that reads back as the same double: 0.9, not 0.90000000000000002 */
        const double v = *(const double *)field;
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, size, "%.*g", prec, v);
            if (strtod(buf, NULL) == v) break;
        }
        break;
    }
    case FM_OPT_BOOL: snprintf(buf, size, "%d", *(const int *)field); break;
    case FM_OPT_STRING: snprintf(buf, size, "%s", field); break;
    }
}

size_t fm_opts_format(const FmOptTable *tab, const void *cfg, char *buf, size_t size, int model_only) {
    size_t used = 0;
    char val[1100];
    buf[0] = '\0';
    for (size_t i = 0; i < tab->count; i++) {
        if (model_only && !tab->opts[i].model) continue;
        format_value(val, sizeof val, &tab->opts[i], cfg);
        int n = snprintf(buf + used, size - used, "%s = %s\n", tab->opts[i].name, val);
        FM_CHECK(n >= 0 && (size_t)n < size - used, "configuration text exceeds %zu bytes", size);
        used += (size_t)n;
    }
    return used;
}

size_t fm_opts_diff(const FmOptTable *tab, const void *from, const void *to, char *buf, size_t size) {
    size_t used = 0, count = 0;
    char a[1100], b[1100];
    buf[0] = '\0';
    for (size_t i = 0; i < tab->count; i++) {
        format_value(a, sizeof a, &tab->opts[i], from);
        format_value(b, sizeof b, &tab->opts[i], to);
        if (!strcmp(a, b)) continue;
        count++;
        if (used == size) continue; /* the text was cut: only counted */
        int n = snprintf(buf + used, size - used, "%s%s %s -> %s", used ? ", " : "", tab->opts[i].name, a, b);
        if (n < 0 || (size_t)n >= size - used) { /* too long: end with an ellipsis */
            if (size >= 4) strcpy(buf + size - 4, "...");
            used = size;
            continue;
        }
        used += (size_t)n;
    }
    return count;
}

void fm_opts_help(const FmOptTable *tab, FILE *f) {
    fprintf(f, "usage: fmtrain %s [--config FILE] [--option value ...]\n\n%s\n\n", tab->command, tab->summary);
    fprintf(f, "  --config FILE          INI file of 'option = value' lines (top level, [%s] or [fmtrain];\n"
               "                         other commands' sections are skipped); command-line flags override it\n",
            tab->command);
    for (size_t i = 0; i < tab->count; i++) {
        const FmOption *o = &tab->opts[i];
        char flag[64];
        const char *meta = o->type == FM_OPT_INT ? " N" : o->type == FM_OPT_DOUBLE ? " X" : o->type == FM_OPT_STRING ? " S" : "";
        snprintf(flag, sizeof flag, "--%s%s", o->name, meta);
        fprintf(f, "  %-22s %s [default: %s]\n", flag, o->help, o->def[0] ? o->def : "\"\"");
    }
}
