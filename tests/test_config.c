/* test_config.c - the table-driven option machinery (config.h, src/config.c).
 *
 * A small local table (int, double, string, bool; two of them marked as model identity)
 * exercises defaults, fm_opts_set on good and bad values (every rejection must return -1,
 * leave the field unchanged and name the option and the value in fm_err_msg()), the
 * precedence defaults < --config FILE < flags, the flag forms, INI files (top level,
 * [command] and [fmtrain] sections apply, other commands' sections are skipped, any other
 * section is an error; indented keys, BOM and CRLF; directories and NUL bytes), the format -> load
 * round trip and the model_only filter. Then the real `fmtrain train` table: its defaults,
 * its help text and its round trip through the text stored in every checkpoint.
 */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fm/common.h"
#include "fm/config.h"
#include "fm/train.h"
#include "testutil.h"

typedef struct {
    long count;
    double ratio;
    char name[8];
    char path[1024];
    int flag;
} Cfg;

#define F(field) offsetof(Cfg, field)
static const FmOption OPTS[] = {
    {"count", FM_OPT_INT, F(count), 0, "5", 0, 100, 1, "an integer in [0, 100]"},
    {"ratio", FM_OPT_DOUBLE, F(ratio), 0, "0.5", -1, 1, 0, "a number in [-1, 1]"},
    {"name", FM_OPT_STRING, F(name), sizeof(((Cfg *)0)->name), "abc", 0, 0, 1, "a short string (7 chars)"},
    {"path", FM_OPT_STRING, F(path), sizeof(((Cfg *)0)->path), "runs/x", 0, 0, 0, "a long string"},
    {"flag", FM_OPT_BOOL, F(flag), 0, "0", 0, 1, 0, "a boolean"},
};
static const FmOptTable TAB = {"test", "a test table", OPTS, sizeof OPTS / sizeof OPTS[0]};

static char g_dir[] = "/tmp/fmtrain-test-config.XXXXXX";

/* Writes text to g_dir/name and returns the path (static buffer per call site). */
static const char *write_file(const char *name, const char *text) {
    static char paths[8][1100];
    static int next = 0;
    char *p = paths[next++ % 8];
    snprintf(p, 1100, "%s/%s", g_dir, name);
    FILE *f = fopen(p, "w");
    FM_CHECK(f != NULL, "test setup: cannot write %s", p);
    fputs(text, f);
    fclose(f);
    return p;
}

static int contains(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

static int parse(Cfg *c, int *help, int argc, const char **argv) {
    fm_err_clear();
    return fm_opts_parse(&TAB, c, argc, (char **)argv, help);
}

/* ---------------------------------------------------------------- defaults and set */

static void test_defaults(void) {
    Cfg c;
    memset(&c, 0x55, sizeof c);
    fm_opts_defaults(&TAB, &c);
    T_CHECK(c.count == 5, "default count %ld", c.count);
    T_CHECK(c.ratio == 0.5, "default ratio %g", c.ratio);
    T_CHECK(!strcmp(c.name, "abc"), "default name '%s'", c.name);
    T_CHECK(!strcmp(c.path, "runs/x"), "default path '%s'", c.path);
    T_CHECK(c.flag == 0, "default flag %d", c.flag);
}

static void test_set_good(void) {
    Cfg c;
    fm_opts_defaults(&TAB, &c);
    T_CHECK(fm_opts_set(&TAB, &c, "count", "12") == 0 && c.count == 12, "count 12 -> %ld", c.count);
    T_CHECK(fm_opts_set(&TAB, &c, "count", "0") == 0 && c.count == 0, "count 0 (min, inclusive) -> %ld", c.count);
    T_CHECK(fm_opts_set(&TAB, &c, "count", "100") == 0 && c.count == 100, "count 100 (max, inclusive) -> %ld",
            c.count);
    T_CHECK(fm_opts_set(&TAB, &c, "ratio", "-2.5e-1") == 0 && c.ratio == -0.25, "ratio -2.5e-1 -> %g", c.ratio);
    T_CHECK(fm_opts_set(&TAB, &c, "ratio", "1") == 0 && c.ratio == 1.0, "ratio 1 (max) -> %g", c.ratio);
    T_CHECK(fm_opts_set(&TAB, &c, "name", "1234567") == 0 && !strcmp(c.name, "1234567"),
            "name of 7 chars (capacity 8) -> '%s'", c.name);
    T_CHECK(fm_opts_set(&TAB, &c, "name", "") == 0 && c.name[0] == '\0', "empty name -> '%s'", c.name);
    const char *yes[] = {"1", "true", "TRUE", "yes", "On"}, *no[] = {"0", "false", "No", "off", "OFF"};
    for (int i = 0; i < 5; i++) {
        c.flag = 0;
        T_CHECK(fm_opts_set(&TAB, &c, "flag", yes[i]) == 0 && c.flag == 1, "flag '%s' -> %d", yes[i], c.flag);
        c.flag = 1;
        T_CHECK(fm_opts_set(&TAB, &c, "flag", no[i]) == 0 && c.flag == 0, "flag '%s' -> %d", no[i], c.flag);
    }
}

/* Each bad value: -1, the field unchanged, and the message names the option and the value. */
static void test_set_bad(void) {
    static const struct {
        const char *opt, *val, *want1, *want2;
    } CASES[] = {
        {"count", "abc", "count", "abc"},                  /* not a number */
        {"count", "12x", "count", "12x"},                  /* trailing junk */
        {"count", "", "count", "''"},                      /* empty */
        {"count", "1.5", "count", "1.5"},                  /* not an integer */
        {"count", "101", "count", "101"},                  /* above max */
        {"count", "-1", "count", "-1"},                    /* below min */
        {"count", "99999999999999999999", "count", "99999999999999999999"}, /* overflows long long */
        {"ratio", "x", "ratio", "'x'"},
        {"ratio", "0.5.1", "ratio", "0.5.1"},
        {"ratio", "1.0001", "ratio", "1.0001"},            /* above max */
        {"ratio", "-3", "ratio", "-3"},                    /* below min */
        {"ratio", "nan", "ratio", "nan"},
        {"ratio", "inf", "ratio", "inf"},
        {"ratio", "1e999", "ratio", "1e999"},              /* overflows double */
        {"flag", "maybe", "flag", "maybe"},
        {"flag", "2", "flag", "'2'"},
        {"name", "12345678", "name", "too long"},          /* 8 chars, capacity 8 */
        {"bogus", "1", "bogus", "test"},                   /* unknown option, names the command */
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        Cfg c, before;
        fm_opts_defaults(&TAB, &c);
        before = c;
        fm_err_clear();
        int rc = fm_opts_set(&TAB, &c, CASES[i].opt, CASES[i].val);
        const char *msg = fm_err_msg();
        T_CHECK(rc == -1, "set %s='%s' returned %d, expected -1", CASES[i].opt, CASES[i].val, rc);
        T_CHECK(contains(msg, CASES[i].want1) && contains(msg, CASES[i].want2),
                "set %s='%s': message '%s' should contain '%s' and '%s'", CASES[i].opt, CASES[i].val, msg,
                CASES[i].want1, CASES[i].want2);
        T_CHECK(!memcmp(&c, &before, sizeof c), "set %s='%s' failed but changed the configuration", CASES[i].opt,
                CASES[i].val);
    }
}

/* ---------------------------------------------------------------- fm_opts_parse */

static void test_parse(void) {
    Cfg c;
    int help = 7;
    /* no arguments: the defaults */
    T_CHECK(parse(&c, &help, 0, NULL) == 0 && help == 0, "empty argv: rc/help %d", help);
    T_CHECK(c.count == 5 && c.ratio == 0.5 && !strcmp(c.name, "abc") && c.flag == 0, "empty argv gives the defaults");

    /* precedence: defaults < config file < flags, whatever the order on the command line.
     * The file sets count at top level, ratio in [test], flag in [fmtrain]; [sample] (another
     * command's section) is skipped. */
    const char *ini = write_file("prec.ini", "; a comment\n# another\ncount = 7\nname = fromfil\n"
                                             "[test]\nratio = 0.25\n[fmtrain]\nflag = yes\n"
                                             "[sample]\ncount = 99\nnot_an_option = 3\n");
    {
        const char *argv[] = {"--count", "9", "--config", ini};
        T_CHECK(parse(&c, &help, 4, argv) == 0, "precedence parse failed: %s", fm_err_msg());
        T_CHECK(c.count == 9, "flag given before --config must still win: count %ld", c.count);
        T_CHECK(c.ratio == 0.25, "[test] section applies: ratio %g", c.ratio);
        T_CHECK(c.flag == 1, "[fmtrain] section applies: flag %d", c.flag);
        T_CHECK(!strcmp(c.name, "fromfil"), "top-level key applies: name '%s'", c.name);
        T_CHECK(!strcmp(c.path, "runs/x"), "untouched option keeps its default: path '%s'", c.path);
    }
    /* "fromfile" is 8 characters: too long for name[8] -> an error naming the file and the option */
    {
        const char *toolong = write_file("toolong.ini", "count = 7\nname = fromfile\n");
        const char *argv[] = {"--config", toolong};
        int rc = parse(&c, &help, 2, argv);
        T_CHECK(rc == -1 && contains(fm_err_msg(), "toolong.ini") && contains(fm_err_msg(), "name"),
                "a bad value in a config file: rc %d, message '%s'", rc, fm_err_msg());
    }
    ini = write_file("prec2.ini", "count = 7\n[test]\nratio = 0.25\nname = file\n[train]\ncount = 99\n");
    {
        char arg[1200];
        snprintf(arg, sizeof arg, "--config=%s", ini);
        const char *argv2[] = {"--ratio=-0.75", arg, "--flag"};
        T_CHECK(parse(&c, &help, 3, argv2) == 0, "--key=value parse failed: %s", fm_err_msg());
        T_CHECK(c.count == 7, "--config=FILE applies (count %ld; [train] must be skipped)", c.count);
        T_CHECK(c.ratio == -0.75, "--ratio=-0.75 overrides the file: %g", c.ratio);
        T_CHECK(!strcmp(c.name, "file"), "name from the file: '%s'", c.name);
        T_CHECK(c.flag == 1, "bare boolean flag at the end: %d", c.flag);
    }
    /* flags apply in order: the last one wins */
    {
        const char *argv[] = {"--count", "1", "--count=2", "--count", "3"};
        T_CHECK(parse(&c, &help, 5, argv) == 0 && c.count == 3, "repeated flag: count %ld", c.count);
    }
    /* bare boolean followed by another flag; explicit boolean values */
    {
        const char *argv[] = {"--flag", "--count", "4"};
        T_CHECK(parse(&c, &help, 3, argv) == 0 && c.flag == 1 && c.count == 4, "bare --flag then --count: %d %ld",
                c.flag, c.count);
        const char *argv2[] = {"--flag", "0"};
        T_CHECK(parse(&c, &help, 2, argv2) == 0 && c.flag == 0, "--flag 0: %d", c.flag);
        const char *argv3[] = {"--flag=no"};
        T_CHECK(parse(&c, &help, 1, argv3) == 0 && c.flag == 0, "--flag=no: %d", c.flag);
        const char *argv4[] = {"--flag", "maybe"};
        T_CHECK(parse(&c, &help, 2, argv4) == -1 && contains(fm_err_msg(), "maybe"), "--flag maybe: '%s'",
                fm_err_msg());
    }
    /* errors, each naming what is wrong */
    {
        const char *argv[] = {"--ratio", "0.1", "--count"};
        int rc = parse(&c, &help, 3, argv);
        T_CHECK(rc == -1 && contains(fm_err_msg(), "count") && contains(fm_err_msg(), "value"),
                "flag missing its value: rc %d, '%s'", rc, fm_err_msg());
        const char *argv2[] = {"--count", "3", "stray"};
        rc = parse(&c, &help, 3, argv2);
        T_CHECK(rc == -1 && contains(fm_err_msg(), "stray"), "positional argument: rc %d, '%s'", rc, fm_err_msg());
        const char *argv3[] = {"--"};
        rc = parse(&c, &help, 1, argv3);
        T_CHECK(rc == -1, "a bare '--': rc %d", rc);
        const char *argv4[] = {"-count", "3"};
        rc = parse(&c, &help, 2, argv4);
        T_CHECK(rc == -1 && contains(fm_err_msg(), "-count"), "single-dash option: rc %d, '%s'", rc, fm_err_msg());
        const char *argv5[] = {"--bogus", "1"};
        rc = parse(&c, &help, 2, argv5);
        T_CHECK(rc == -1 && contains(fm_err_msg(), "--bogus") && contains(fm_err_msg(), "test"),
                "unknown flag: rc %d, '%s'", rc, fm_err_msg());
        const char *argv6[] = {"--count", "12x"};
        rc = parse(&c, &help, 2, argv6);
        T_CHECK(rc == -1 && contains(fm_err_msg(), "12x") && contains(fm_err_msg(), "count"),
                "--count 12x: rc %d, '%s'", rc, fm_err_msg());
        const char *argv7[] = {"--config"};
        rc = parse(&c, &help, 1, argv7);
        T_CHECK(rc == -1 && contains(fm_err_msg(), "config"), "--config without a file: rc %d, '%s'", rc,
                fm_err_msg());
        char missing[1100];
        snprintf(missing, sizeof missing, "%s/does-not-exist.ini", g_dir);
        const char *argv8[] = {"--config", missing};
        rc = parse(&c, &help, 2, argv8);
        T_CHECK(rc == -1 && contains(fm_err_msg(), "does-not-exist.ini"), "--config missing file: rc %d, '%s'", rc,
                fm_err_msg());
        char longname[200];
        memset(longname, 'a', sizeof longname);
        memcpy(longname, "--", 2);
        longname[sizeof longname - 1] = '\0';
        const char *argv9[] = {longname, "1"};
        rc = parse(&c, &help, 2, argv9);
        T_CHECK(rc == -1, "a 197-character option name: rc %d", rc);
    }
    /* --help / -h win over anything else, even bad flags before them */
    {
        const char *argv[] = {"--count", "abc", "--help"};
        help = 0;
        T_CHECK(parse(&c, &help, 3, argv) == 0 && help == 1, "--help: help %d", help);
        const char *argv2[] = {"-h"};
        help = 0;
        T_CHECK(parse(&c, &help, 1, argv2) == 0 && help == 1, "-h: help %d", help);
    }
}

/* ---------------------------------------------------------------- INI files */

static void test_load_file(void) {
    Cfg c;
    fm_opts_defaults(&TAB, &c);
    char missing[1100];
    snprintf(missing, sizeof missing, "%s/nope.ini", g_dir);
    fm_err_clear();
    int rc = fm_opts_load_file(&TAB, &c, missing);
    T_CHECK(rc == -1 && contains(fm_err_msg(), "nope.ini"), "missing file: rc %d, '%s'", rc, fm_err_msg());

    /* a line without '=' on line 3 */
    const char *bad = write_file("malformed.ini", "count = 3\n[test]\nthis line has no equals sign\nratio = 0.1\n");
    fm_opts_defaults(&TAB, &c);
    fm_err_clear();
    rc = fm_opts_load_file(&TAB, &c, bad);
    T_CHECK(rc == -1 && contains(fm_err_msg(), "malformed.ini") && contains(fm_err_msg(), "3"),
            "malformed line: rc %d, '%s' (should name the file and line 3)", rc, fm_err_msg());

    /* an unknown key, a bad value, and 'config' inside a config file */
    const char *unk = write_file("unknown.ini", "count = 3\nwidht = 4\n");
    fm_err_clear();
    rc = fm_opts_load_file(&TAB, &c, unk);
    T_CHECK(rc == -1 && contains(fm_err_msg(), "unknown.ini") && contains(fm_err_msg(), "widht"),
            "unknown key: rc %d, '%s'", rc, fm_err_msg());
    const char *badval = write_file("badval.ini", "[test]\ncount = 12x\n");
    fm_err_clear();
    rc = fm_opts_load_file(&TAB, &c, badval);
    T_CHECK(rc == -1 && contains(fm_err_msg(), "badval.ini") && contains(fm_err_msg(), "12x") &&
                contains(fm_err_msg(), "count"),
            "bad value in file: rc %d, '%s'", rc, fm_err_msg());
    const char *nested = write_file("nested.ini", "config = other.ini\n");
    fm_err_clear();
    rc = fm_opts_load_file(&TAB, &c, nested);
    T_CHECK(rc == -1 && contains(fm_err_msg(), "config"), "config inside a config file: rc %d, '%s'", rc,
            fm_err_msg());

    /* a good file; whitespace around '=' and keys in the [test] section */
    const char *good = write_file("good.ini", "[test]\n  count=42\nratio   =   -0.125\nflag = on\npath = a/b c\n");
    fm_opts_defaults(&TAB, &c);
    rc = fm_opts_load_file(&TAB, &c, good);
    T_CHECK(rc == 0, "good file: %s", fm_err_msg());
    T_CHECK(c.count == 42 && c.ratio == -0.125 && c.flag == 1 && !strcmp(c.path, "a/b c"),
            "good file values: %ld %g %d '%s'", c.count, c.ratio, c.flag, c.path);

    /* a value longer than the INI reader's line buffer must not be silently cut: either it is
     * read whole or the file is rejected (a truncated --out would write to another directory) */
    char text[1100];
    int n = snprintf(text, sizeof text, "path = ");
    for (int i = 0; i < 400; i++) text[n++] = (char)('a' + i % 26);
    text[n] = '\0';
    char want[500];
    memcpy(want, text + 7, 400);
    want[400] = '\0';
    strcat(text, "\ncount = 8\n");
    const char *longf = write_file("long.ini", text);
    fm_opts_defaults(&TAB, &c);
    fm_err_clear();
    rc = fm_opts_load_file(&TAB, &c, longf);
    T_CHECK(rc == -1 || !strcmp(c.path, want),
            "a 407-character line: rc %d but path has %zu of 400 characters (silently truncated)", rc, strlen(c.path));
}

/* Loads a file into fresh defaults; returns fm_opts_load_file's result. */
static int load(Cfg *c, const char *path) {
    fm_opts_defaults(&TAB, c);
    fm_err_clear();
    return fm_opts_load_file(&TAB, c, path);
}

/* What a config file can be besides 'key = value' lines. */
static void test_load_file_layout(void) {
    Cfg c;
    /* a directory opens on Linux but cannot be read: an error, not an empty configuration */
    int rc = load(&c, g_dir);
    T_CHECK(rc == -1 && contains(fm_err_msg(), g_dir) && contains(fm_err_msg(), "directory"),
            "a directory as the config file: rc %d, '%s'", rc, fm_err_msg());
    {
        Cfg d;
        int help = 0;
        const char *argv[] = {"--config", g_dir};
        rc = parse(&d, &help, 2, argv);
        T_CHECK(rc == -1 && contains(fm_err_msg(), "directory"), "--config DIR: rc %d, '%s'", rc, fm_err_msg());
    }

    /* leading blanks are ignored: an indented key is a key, not the continuation of the previous
     * value (inih's multi-line values would make path "c-cont\ncount = 9") */
    rc = load(&c, write_file("indent.ini", "[test]\npath = c-cont\n    count = 9\n\tratio = 0.25\nname = n\n"));
    T_CHECK(rc == 0, "indented keys: %s", fm_err_msg());
    T_CHECK(!strcmp(c.path, "c-cont") && c.count == 9 && c.ratio == 0.25 && !strcmp(c.name, "n"),
            "indented keys: path '%s' count %ld ratio %g name '%s'", c.path, c.count, c.ratio, c.name);
    rc = load(&c, write_file("indentbad.ini", "[test]\npath = p\n  count = 12x\n"));
    T_CHECK(rc == -1 && contains(fm_err_msg(), "indentbad.ini:3:") && contains(fm_err_msg(), "12x"),
            "a bad value on an indented line 3: rc %d, '%s'", rc, fm_err_msg());
    rc = load(&c, write_file("indentmal.ini", "count = 3\n   no equals sign\n"));
    T_CHECK(rc == -1 && contains(fm_err_msg(), "indentmal.ini:2:"), "an indented malformed line 2: rc %d, '%s'", rc,
            fm_err_msg());

    /* a UTF-8 byte order mark and CRLF line ends (a file saved on Windows); line numbers still count */
    rc = load(&c, write_file("bomcrlf.ini", "\xEF\xBB\xBF[test]\r\ncount = 11\r\n  ratio = 0.75\r\npath = a b\r\n"));
    T_CHECK(rc == 0 && c.count == 11 && c.ratio == 0.75 && !strcmp(c.path, "a b"),
            "BOM + CRLF: rc %d (%s), count %ld ratio %g path '%s'", rc, fm_err_msg(), c.count, c.ratio, c.path);
    rc = load(&c, write_file("bomkey.ini", "\xEF\xBB\xBF" "count = 12\r\n"));
    T_CHECK(rc == 0 && c.count == 12, "BOM before a top-level key: rc %d (%s), count %ld", rc, fm_err_msg(), c.count);
    rc = load(&c, write_file("crlfbad.ini", "\xEF\xBB\xBF[test]\r\ncount = 1\r\nflag = maybe\r\n"));
    T_CHECK(rc == -1 && contains(fm_err_msg(), "crlfbad.ini:3:") && contains(fm_err_msg(), "maybe"),
            "BOM + CRLF, a bad value on line 3: rc %d, '%s'", rc, fm_err_msg());

    /* a NUL byte must not end the file early (the lines after it would be dropped) */
    {
        static const char text[] = "count = 3\njunk\0more\ncount = 4\n";
        char path[1100];
        snprintf(path, sizeof path, "%s/nul.ini", g_dir);
        FILE *f = fopen(path, "wb");
        FM_CHECK(f && fwrite(text, 1, sizeof text - 1, f) == sizeof text - 1 && !fclose(f), "test setup: %s", path);
        rc = load(&c, path);
        T_CHECK(rc == -1 && contains(fm_err_msg(), "nul.ini:2:") && contains(fm_err_msg(), "NUL"),
                "a NUL byte on line 2: rc %d, '%s'", rc, fm_err_msg());
    }

    /* sections: the table's own command and [fmtrain] apply, another fmtrain command's is
     * skipped (one file may hold [train] and [sample]), anything else is an error naming the
     * section, its line and the known ones: a misspelt [tset] or a [Test] must not drop its keys */
    rc = load(&c, write_file("sections.ini", "count = 3\n[train]\ncount = 99\nwidht = 1\n[sample]\nflag = maybe\n"
                                             "[fmtrain]\nratio = 0.5\n[test]\nname = t\n[probe]\n"));
    T_CHECK(rc == 0 && c.count == 3 && !strcmp(c.name, "t"), "other commands' sections: rc %d (%s), count %ld", rc,
            fm_err_msg(), c.count);
    static const char *const BAD[] = {"tset", "Test", "fmtrain2", "other", " test"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        char text[200], want[80];
        snprintf(text, sizeof text, "count = 3\n\n[%s]\ncount = 7\n", BAD[i]);
        snprintf(want, sizeof want, "[%s]", BAD[i]);
        rc = load(&c, write_file("badsection.ini", text));
        const char *msg = fm_err_msg();
        T_CHECK(rc == -1 && contains(msg, "badsection.ini:3:") && contains(msg, want) && contains(msg, "[test]") &&
                    contains(msg, "[fmtrain]") && contains(msg, "[train]") && contains(msg, "[sample]"),
                "section [%s] on line 3: rc %d, '%s'", BAD[i], rc, msg);
        T_CHECK(c.count == 3, "section [%s]: its keys must not apply (count %ld)", BAD[i], c.count);
    }
    /* the real train table: [sample] skipped, [trian] refused */
    {
        FmTrainConfig t;
        fm_opts_defaults(&fm_train_opts, &t);
        fm_err_clear();
        const char *both = write_file("train.ini", "[sample]\nsteps = 50\n[train]\nsteps = 5\n[fmtrain]\nseed = 3\n");
        rc = fm_opts_load_file(&fm_train_opts, &t, both);
        T_CHECK(rc == 0 && t.steps == 5 && t.seed == 3, "train table: rc %d (%s), steps %ld seed %ld", rc,
                fm_err_msg(), t.steps, t.seed);
        fm_err_clear();
        rc = fm_opts_load_file(&fm_train_opts, &t, write_file("trian.ini", "[trian]\nsteps = banana\n"));
        T_CHECK(rc == -1 && contains(fm_err_msg(), "trian.ini:1:") && contains(fm_err_msg(), "[trian]") &&
                    contains(fm_err_msg(), "[train]"),
                "train table, [trian]: rc %d, '%s'", rc, fm_err_msg());
    }
}

/* ---------------------------------------------------------------- format and round trip */

static void test_format_roundtrip(void) {
    Cfg a, b;
    fm_opts_defaults(&TAB, &a);
    a.count = 77;
    a.ratio = 0.1; /* not exact in binary: needs 17 digits to round-trip */
    strcpy(a.name, "x-y_z");
    strcpy(a.path, "runs/with space/and=equals");
    a.flag = 1;
    char buf[4096];
    size_t n = fm_opts_format(&TAB, &a, buf, sizeof buf, 0);
    T_CHECK(n == strlen(buf), "format returns %zu, strlen %zu", n, strlen(buf));
    T_CHECK(contains(buf, "count = 77\n") && contains(buf, "flag = 1\n") && contains(buf, "name = x-y_z\n"),
            "formatted text:\n%s", buf);
    int lines = 0;
    for (const char *p = buf; *p; p++) lines += *p == '\n';
    T_CHECK(lines == (int)TAB.count, "format: %d lines for %zu options", lines, TAB.count);

    fm_opts_defaults(&TAB, &b);
    int rc = fm_opts_load_string(&TAB, &b, buf);
    T_CHECK(rc == 0, "load_string of formatted text: %s", fm_err_msg());
    T_CHECK(b.count == a.count && b.ratio == a.ratio && !strcmp(b.name, a.name) && !strcmp(b.path, a.path) &&
                b.flag == a.flag,
            "round trip: %ld %.17g '%s' '%s' %d", b.count, b.ratio, b.name, b.path, b.flag);
    char buf2[4096];
    fm_opts_format(&TAB, &b, buf2, sizeof buf2, 0);
    T_CHECK(!strcmp(buf, buf2), "format(load(format(x))) differs:\n%s---\n%s", buf, buf2);

    /* extreme doubles round-trip exactly */
    double vals[] = {-1, 1e-300, -0.3333333333333333, 0.1 + 0.2};
    for (int i = 0; i < 4; i++) {
        a.ratio = vals[i];
        fm_opts_format(&TAB, &a, buf, sizeof buf, 0);
        fm_opts_defaults(&TAB, &b);
        rc = fm_opts_load_string(&TAB, &b, buf);
        T_CHECK(rc == 0 && b.ratio == vals[i], "ratio %.17g round trip: rc %d -> %.17g (%s)", vals[i], rc, b.ratio,
                rc ? fm_err_msg() : "");
    }
    a.ratio = 0.1;
    /* ... in the shortest text that does: 0.1, not 0.10000000000000001 */
    fm_opts_format(&TAB, &a, buf, sizeof buf, 0);
    T_CHECK(contains(buf, "ratio = 0.1\n"), "0.1 formatted as:\n%s", buf);
    a.ratio = 0.1 + 0.2; /* 0.30000000000000004: 17 digits are needed */
    fm_opts_format(&TAB, &a, buf, sizeof buf, 0);
    T_CHECK(contains(buf, "ratio = 0.30000000000000004\n"), "0.1 + 0.2 formatted as:\n%s", buf);
    a.ratio = 0.1;

    /* the options that differ, named with both values */
    b = a;
    b.count = 78;
    strcpy(b.path, "runs/y");
    char diff[256];
    size_t nd = fm_opts_diff(&TAB, &a, &b, diff, sizeof diff);
    T_CHECK(nd == 2 && !strcmp(diff, "count 77 -> 78, path runs/with space/and=equals -> runs/y"), "diff: %zu '%s'",
            nd, diff);
    nd = fm_opts_diff(&TAB, &a, &a, diff, sizeof diff);
    T_CHECK(nd == 0 && diff[0] == '\0', "diff of equal configurations: %zu '%s'", nd, diff);
    nd = fm_opts_diff(&TAB, &a, &b, diff, 20);
    T_CHECK(nd == 2 && !strcmp(diff, "count 77 -> 78, ..."), "diff cut to 20 bytes: %zu '%s'", nd, diff);

    /* the model_only filter keeps exactly the model options (count, name) */
    n = fm_opts_format(&TAB, &a, buf, sizeof buf, 1);
    T_CHECK(!strcmp(buf, "count = 77\nname = x-y_z\n"), "model_only text:\n%s", buf);
    T_CHECK(n == strlen(buf), "model_only returns %zu, strlen %zu", n, strlen(buf));

    /* malformed stored text */
    fm_err_clear();
    rc = fm_opts_load_string(&TAB, &b, "count = 3\nno equals here\n");
    T_CHECK(rc == -1 && contains(fm_err_msg(), "2"), "malformed stored text: rc %d, '%s'", rc, fm_err_msg());
    fm_err_clear();
    rc = fm_opts_load_string(&TAB, &b, "count = 300\n");
    T_CHECK(rc == -1 && contains(fm_err_msg(), "count") && contains(fm_err_msg(), "300"),
            "out-of-range stored value: rc %d, '%s'", rc, fm_err_msg());

    /* a long string value (a deep --out path) must round-trip too */
    fm_opts_defaults(&TAB, &a);
    memset(a.path, 0, sizeof a.path);
    for (int i = 0; i < 300; i++) a.path[i] = i % 10 == 9 ? '/' : (char)('a' + i % 26);
    fm_opts_format(&TAB, &a, buf, sizeof buf, 0);
    fm_opts_defaults(&TAB, &b);
    rc = fm_opts_load_string(&TAB, &b, buf);
    T_CHECK(rc == 0 && !strcmp(a.path, b.path),
            "300-character path round trip: rc %d (%s), %zu characters back", rc, rc ? fm_err_msg() : "",
            strlen(b.path));
}

/* ---------------------------------------------------------------- the real train table */

static void test_train_table(void) {
    const FmOptTable *t = &fm_train_opts;
    T_CHECK(!strcmp(t->command, "train"), "train table command '%s'", t->command);
    for (size_t i = 0; i < t->count; i++) {
        const FmOption *o = &t->opts[i];
        T_CHECK(o->help && o->help[0], "--%s has no help", o->name);
        T_CHECK(o->type != FM_OPT_STRING || o->size > 1, "--%s: string capacity %zu", o->name, o->size);
        T_CHECK(o->type == FM_OPT_STRING || o->min <= o->max, "--%s: range [%g, %g]", o->name, o->min, o->max);
        for (size_t j = 0; j < i; j++) T_CHECK(strcmp(o->name, t->opts[j].name), "--%s listed twice", o->name);
    }

    FmTrainConfig c;
    int help = 1;
    fm_err_clear();
    int rc = fm_opts_parse(t, &c, 0, NULL, &help);
    T_CHECK(rc == 0 && help == 0, "train defaults: rc %d help %d (%s)", rc, help, fm_err_msg());
    T_CHECK(!strcmp(c.data, "moons") && !strcmp(c.objective, "velocity") && !strcmp(c.path, "condot") &&
                !strcmp(c.model, "mlp") && !strcmp(c.lr_schedule, "constant") && !strcmp(c.t_dist, "uniform"),
            "train string defaults: %s %s %s %s %s %s", c.data, c.objective, c.path, c.model, c.lr_schedule,
            c.t_dist);
    T_CHECK(c.width == 256 && c.depth == 3 && c.temb == 32 && c.batch == 256 && c.micro_batch == 0 &&
                c.steps == 2000 && c.warmup == 100 && c.seed == 1 && c.resume == 0,
            "train integer defaults");
    T_CHECK(c.lr == 1e-3 && c.beta1 == 0.9 && c.beta2 == 0.999 && c.adam_eps == 1e-8 && c.clip == 1.0 &&
                c.ema == 0.999 && c.t_eps == -1 && c.weight_decay == 0,
            "train double defaults");
    FmSetup su;
    T_CHECK(fm_setup_resolve(&su, &c) == 0, "the default configuration resolves: %s", fm_err_msg());

    /* --help text lists every option */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    fm_opts_help(t, f);
    fclose(f);
    for (size_t i = 0; i < t->count; i++) {
        char flag[80];
        snprintf(flag, sizeof flag, "--%s", t->opts[i].name);
        T_CHECK(text && contains(text, flag), "help text lacks %s", flag);
    }
    free(text);

    /* a non-default configuration survives format -> load_string (what resume and sample read) */
    const char *argv[] = {"--data", "spirals", "--objective", "noise", "--path", "poly:1.5", "--width", "64",
                          "--depth", "2", "--lr", "3e-4", "--lr-schedule", "cosine", "--min-lr", "1e-6",
                          "--t-eps", "0.02", "--seed", "4294967295", "--out", "/tmp/some dir/run 1",
                          "--resume", "--weight-decay", "0.01", "--t-dist", "logit-normal", "--beta2", "0.95"};
    rc = fm_opts_parse(t, &c, (int)(sizeof argv / sizeof argv[0]), (char **)argv, &help);
    T_CHECK(rc == 0, "non-default train parse: %s", fm_err_msg());
    char a[8192], b[8192];
    fm_opts_format(t, &c, a, sizeof a, 0);
    FmTrainConfig d;
    fm_opts_defaults(t, &d);
    rc = fm_opts_load_string(t, &d, a);
    T_CHECK(rc == 0, "train load_string: %s", fm_err_msg());
    fm_opts_format(t, &d, b, sizeof b, 0);
    T_CHECK(!strcmp(a, b), "train round trip differs:\n%s---\n%s", a, b);
    T_CHECK(!strcmp(d.out, "/tmp/some dir/run 1") && d.seed == 4294967295L && d.lr == 3e-4 && d.resume == 1 &&
                d.t_eps == 0.02 && !strcmp(d.path, "poly:1.5"),
            "train round trip fields: out '%s' seed %ld lr %g resume %d", d.out, d.seed, d.lr, d.resume);

    /* model_only: exactly the options flagged as model identity */
    fm_opts_format(t, &c, a, sizeof a, 1);
    size_t nmodel = 0;
    for (size_t i = 0; i < t->count; i++) {
        char key[80];
        snprintf(key, sizeof key, "%s = ", t->opts[i].name);
        int at_line_start = !strncmp(a, key, strlen(key));
        char nkey[82];
        snprintf(nkey, sizeof nkey, "\n%s", key);
        int present = at_line_start || contains(a, nkey);
        nmodel += t->opts[i].model;
        T_CHECK(present == t->opts[i].model, "model_only: --%s present %d, model %d", t->opts[i].name, present,
                t->opts[i].model);
    }
    T_CHECK(contains(a, "width = 64\n") && !contains(a, "lr = "), "model_only train text:\n%s", a);
    T_CHECK(nmodel >= 4, "train table marks %zu model options", nmodel);

    /* the stored configuration of a run with a deep output directory must still load */
    char deep[1000] = "/tmp";
    while (strlen(deep) < 400) strcat(deep, "/a-fairly-long-directory-name");
    FmTrainConfig e;
    fm_opts_defaults(t, &e);
    T_CHECK(fm_opts_set(t, &e, "out", deep) == 0, "set a %zu-character --out", strlen(deep));
    fm_opts_format(t, &e, a, sizeof a, 0);
    fm_opts_defaults(t, &d);
    fm_err_clear();
    rc = fm_opts_load_string(t, &d, a);
    T_CHECK(rc == 0 && !strcmp(d.out, e.out), "%zu-character --out round trip: rc %d (%s), %zu characters back",
            strlen(e.out), rc, rc ? fm_err_msg() : "", strlen(d.out));
}

int main(void) {
    FM_CHECK(mkdtemp(g_dir) != NULL, "test setup: mkdtemp");
    test_defaults();
    test_set_good();
    test_set_bad();
    test_parse();
    test_load_file();
    test_load_file_layout();
    test_format_roundtrip();
    test_train_table();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd)) fprintf(stderr, "warning: could not remove %s\n", g_dir);
    return T_DONE();
}
