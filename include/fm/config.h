/* config.h - table-driven options: one table per subcommand drives the defaults, the
 * INI config file (Debian's libinih), command-line overrides, --help, the printed
 * resolved configuration and the copy stored in every output file.
 *
 * Precedence: defaults < config file (--config FILE) < command-line flags.
 */
#ifndef FM_CONFIG_H
#define FM_CONFIG_H

#include <stddef.h>
#include <stdio.h>

typedef enum { FM_OPT_INT, FM_OPT_DOUBLE, FM_OPT_STRING, FM_OPT_BOOL } FmOptType;

typedef struct {
    const char *name; /* long flag and INI key, e.g. "micro-batch" */
    FmOptType type;
    size_t offset;    /* offsetof() the field in the config struct */
    size_t size;      /* FM_OPT_STRING: capacity of the char array */
    const char *def;  /* default, as text */
    double min, max;  /* numeric range (inclusive) */
    int model;        /* 1: part of the model's identity (resume refuses a change) */
    const char *help;
} FmOption;

typedef struct {
    const char *command; /* "train", "sample" */
    const char *summary;
    const FmOption *opts;
    size_t count;
} FmOptTable;

/* Sets every option to its default. */
void fm_opts_defaults(const FmOptTable *tab, void *cfg);
/* Sets one option from text: 0, or -1 with fm_err_set naming the option and value. */
int fm_opts_set(const FmOptTable *tab, void *cfg, const char *name, const char *value);
/* Applies an INI file: keys at the top level, in a section named like the command or in
 * [fmtrain]; other commands' sections are skipped, any other section is an error. Leading
 * blanks are ignored (no multi-line values). A directory or a read error is an error. */
int fm_opts_load_file(const FmOptTable *tab, void *cfg, const char *path);
/* Applies INI text (e.g. a configuration stored in a checkpoint). */
int fm_opts_load_string(const FmOptTable *tab, void *cfg, const char *text);
/* defaults, then --config FILE, then the flags. argv[0] is the first flag.
 * Sets *help to 1 (and returns 0) if --help/-h was given. */
int fm_opts_parse(const FmOptTable *tab, void *cfg, int argc, char **argv, int *help);
/* The resolved configuration as INI text ("key = value" lines). Returns bytes written. */
size_t fm_opts_format(const FmOptTable *tab, const void *cfg, char *buf, size_t size, int model_only);
/* The options whose values differ between two configurations, as "name old -> new, ..." in buf
 * (cut with "..." if it does not fit). Returns how many differ. */
size_t fm_opts_diff(const FmOptTable *tab, const void *from, const void *to, char *buf, size_t size);
void fm_opts_help(const FmOptTable *tab, FILE *f);

#endif
