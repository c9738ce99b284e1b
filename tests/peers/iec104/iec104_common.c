/*
 * Shared by iec104_master.c and iec104_slave.c (each #includes this file, so
 * every program stays one translation unit and the TypeScript helper builds it
 * with a single gcc call): JSON-lines output, clocks, number parsing.
 *
 * Test peer code for gridlink, written against lib60870-C (GPLv3, in
 * ../shared/peers/lib60870-C); not part of gridlink.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "iec60870_common.h"
#include "cs101_information_objects.h"

/* ---------- a growable string for one JSON line ---------- */

typedef struct
{
    char* buf;
    size_t len;
    size_t cap;
} Str;

static void
str_reserve(Str* s, size_t extra)
{
    if (s->len + extra + 1 <= s->cap)
        return;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->len + extra + 1)
        cap *= 2;
    char* nb = realloc(s->buf, cap);
    if (nb == NULL)
    {
        fputs("out of memory\n", stderr);
        _exit(70);
    }
    s->buf = nb;
    s->cap = cap;
}

static void __attribute__((format(printf, 2, 3)))
str_printf(Str* s, const char* fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0)
    {
        str_reserve(s, (size_t)n);
        vsnprintf(s->buf + s->len, (size_t)n + 1, fmt, ap2);
        s->len += (size_t)n;
    }
    va_end(ap2);
}

static void
str_puts(Str* s, const char* text)
{
    size_t n = strlen(text);
    str_reserve(s, n);
    memcpy(s->buf + s->len, text, n + 1);
    s->len += n;
}

/* A JSON string literal (quotes included). */
static void
str_json_string(Str* s, const char* text)
{
    str_puts(s, "\"");
    for (const unsigned char* p = (const unsigned char*)text; *p; p++)
    {
        if (*p == '"' || *p == '\\')
            str_printf(s, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            str_printf(s, "\\u%04x", *p);
        else
            str_printf(s, "%c", *p);
    }
    str_puts(s, "\"");
}

/*
 * The shortest decimal that reads back as the same float32 (0.1f -> 0.1, not
 * 0.100000001), so JSON.parse on the TypeScript side gets the intended value.
 * NaN and infinities are not JSON: null.
 */
static void
str_float(Str* s, float value)
{
    if (!isfinite(value))
    {
        str_puts(s, "null");
        return;
    }
    char tmp[64];
    for (int precision = 6; precision <= 9; precision++)
    {
        snprintf(tmp, sizeof(tmp), "%.*g", precision, (double)value);
        if (strtof(tmp, NULL) == value)
            break;
    }
    str_puts(s, tmp);
}

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

/* Writes the line and a newline atomically with respect to other threads, flushed. */
static void
str_emit(Str* s)
{
    pthread_mutex_lock(&out_lock);
    if (s->len > 0)
        fwrite(s->buf, 1, s->len, stdout);
    fputc('\n', stdout);
    int failed = fflush(stdout);
    pthread_mutex_unlock(&out_lock);
    free(s->buf);
    s->buf = NULL;
    s->len = s->cap = 0;
    if (failed != 0)
        _exit(0); /* whoever read our stdout is gone */
}

static void __attribute__((format(printf, 1, 2)))
emitf(const char* fmt, ...)
{
    Str s = {0};
    va_list ap;
    va_start(ap, fmt);
    char* text = NULL;
    if (vasprintf(&text, fmt, ap) >= 0)
    {
        str_puts(&s, text);
        free(text);
    }
    va_end(ap);
    str_emit(&s);
}

static void
emit_reply(const char* cmd, bool ok, const char* message)
{
    Str s = {0};
    str_puts(&s, ok ? "{\"event\":\"ok\",\"cmd\":" : "{\"event\":\"error\",\"cmd\":");
    str_json_string(&s, cmd);
    if (!ok && message)
    {
        str_puts(&s, ",\"message\":");
        str_json_string(&s, message);
    }
    str_puts(&s, "}");
    str_emit(&s);
}

/* ---------- clocks ---------- */

static double
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static uint64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)(ts.tv_nsec / 1000000);
}

/* ---------- parsing ---------- */

static bool
parse_long(const char* text, long min, long max, long* out)
{
    if (text == NULL || *text == '\0')
        return false;
    char* end = NULL;
    errno = 0;
    long v = strtol(text, &end, 0);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool
parse_double(const char* text, double* out)
{
    if (text == NULL || *text == '\0')
        return false;
    char* end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* "1", "true", "on" -> true; "0", "false", "off" -> false. */
static bool
parse_bool(const char* text, bool* out)
{
    if (text == NULL)
        return false;
    if (!strcmp(text, "1") || !strcmp(text, "true") || !strcmp(text, "on"))
        *out = true;
    else if (!strcmp(text, "0") || !strcmp(text, "false") || !strcmp(text, "off"))
        *out = false;
    else
        return false;
    return true;
}

static void
die_usage(const char* usage, const char* problem)
{
    Str s = {0};
    str_puts(&s, "{\"event\":\"error\",\"message\":");
    char text[512];
    snprintf(text, sizeof(text), "%s; usage: %s", problem, usage);
    str_json_string(&s, text);
    str_puts(&s, "}");
    str_emit(&s);
    exit(2);
}

/* Splits a line into at most max whitespace-separated words (in place). */
static int
split_words(char* line, char** words, int max)
{
    int n = 0;
    char* save = NULL;
    for (char* w = strtok_r(line, " \t\r\n", &save); w && n < max; w = strtok_r(NULL, " \t\r\n", &save))
        words[n++] = w;
    return n;
}

/*
 * Reads whatever stdin has (non-blocking) and calls handle(line) for every
 * complete line. Returns false at end of file.
 */
typedef struct
{
    char buf[65536];
    size_t len;
} LineReader;

static bool
read_lines(LineReader* r, void (*handle)(char* line))
{
    ssize_t n = read(STDIN_FILENO, r->buf + r->len, sizeof(r->buf) - 1 - r->len);
    if (n == 0)
        return false;
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    r->len += (size_t)n;
    for (;;)
    {
        char* nl = memchr(r->buf, '\n', r->len);
        if (nl == NULL)
            break;
        *nl = '\0';
        handle(r->buf);
        size_t used = (size_t)(nl - r->buf) + 1;
        memmove(r->buf, nl + 1, r->len - used);
        r->len -= used;
    }
    if (r->len == sizeof(r->buf) - 1)
        r->len = 0; /* a line longer than the buffer: drop it */
    return true;
}

/* Common process setup: no SIGPIPE, die with the parent, stdin non-blocking. */
static void
process_setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        exit(0); /* parent already gone */
    int flags = fcntl(STDIN_FILENO, F_GETFL, 0);
    fcntl(STDIN_FILENO, F_SETFL, flags | O_NONBLOCK);
}

/* ---------- information objects as JSON ---------- */

static void
str_quality(Str* s, QualityDescriptor q, bool hasOverflow)
{
    str_printf(s, "{\"iv\":%s,\"nt\":%s,\"sb\":%s,\"bl\":%s,\"ov\":%s}", (q & IEC60870_QUALITY_INVALID) ? "true" : "false",
               (q & IEC60870_QUALITY_NON_TOPICAL) ? "true" : "false",
               (q & IEC60870_QUALITY_SUBSTITUTED) ? "true" : "false", (q & IEC60870_QUALITY_BLOCKED) ? "true" : "false",
               (hasOverflow && (q & IEC60870_QUALITY_OVERFLOW)) ? "true" : "false");
}

static void
str_time(Str* s, CP56Time2a t)
{
    if (t == NULL)
    {
        str_puts(s, ",\"time\":null,\"timeInvalid\":false");
        return;
    }
    str_printf(s, ",\"time\":%llu,\"timeInvalid\":%s", (unsigned long long)CP56Time2a_toMsTimestamp(t),
               CP56Time2a_isInvalid(t) ? "true" : "false");
}

/*
 * One information object of an ASDU of type `type`:
 * {"ioa":N,"value":...,"quality":{...}|null,"time":MS|null,"timeInvalid":bool}
 * plus "select"/"qu"/"ql" for commands, "transient" for step positions.
 */
static void
str_object(Str* s, TypeID type, InformationObject io)
{
    str_printf(s, "{\"ioa\":%d,\"value\":", InformationObject_getObjectAddress(io));
    CP56Time2a t = NULL;
    int quality = -1;        /* -1: the type has no quality descriptor */
    bool hasOverflow = false;
    switch (type)
    {
    case M_SP_NA_1:
    case M_SP_TA_1:
    case M_SP_TB_1:
        str_puts(s, SinglePointInformation_getValue((SinglePointInformation)io) ? "true" : "false");
        quality = SinglePointInformation_getQuality((SinglePointInformation)io);
        if (type == M_SP_TB_1)
            t = SinglePointWithCP56Time2a_getTimestamp((SinglePointWithCP56Time2a)io);
        break;
    case M_DP_NA_1:
    case M_DP_TA_1:
    case M_DP_TB_1:
        str_printf(s, "%d", (int)DoublePointInformation_getValue((DoublePointInformation)io));
        quality = DoublePointInformation_getQuality((DoublePointInformation)io);
        if (type == M_DP_TB_1)
            t = DoublePointWithCP56Time2a_getTimestamp((DoublePointWithCP56Time2a)io);
        break;
    case M_ST_NA_1:
    case M_ST_TA_1:
    case M_ST_TB_1:
        str_printf(s, "%d,\"transient\":%s", StepPositionInformation_getValue((StepPositionInformation)io),
                   StepPositionInformation_isTransient((StepPositionInformation)io) ? "true" : "false");
        quality = StepPositionInformation_getQuality((StepPositionInformation)io);
        hasOverflow = true;
        if (type == M_ST_TB_1)
            t = StepPositionWithCP56Time2a_getTimestamp((StepPositionWithCP56Time2a)io);
        break;
    case M_BO_NA_1:
    case M_BO_TA_1:
    case M_BO_TB_1:
        str_printf(s, "%u", (unsigned)BitString32_getValue((BitString32)io));
        quality = BitString32_getQuality((BitString32)io);
        hasOverflow = true;
        if (type == M_BO_TB_1)
            t = Bitstring32WithCP56Time2a_getTimestamp((Bitstring32WithCP56Time2a)io);
        break;
    case M_ME_NA_1:
    case M_ME_TA_1:
    case M_ME_TD_1:
        str_float(s, MeasuredValueNormalized_getValue((MeasuredValueNormalized)io));
        quality = MeasuredValueNormalized_getQuality((MeasuredValueNormalized)io);
        hasOverflow = true;
        if (type == M_ME_TD_1)
            t = MeasuredValueNormalizedWithCP56Time2a_getTimestamp((MeasuredValueNormalizedWithCP56Time2a)io);
        break;
    case M_ME_ND_1:
        str_float(s, MeasuredValueNormalizedWithoutQuality_getValue((MeasuredValueNormalizedWithoutQuality)io));
        break;
    case M_ME_NB_1:
    case M_ME_TB_1:
    case M_ME_TE_1:
        str_printf(s, "%d", MeasuredValueScaled_getValue((MeasuredValueScaled)io));
        quality = MeasuredValueScaled_getQuality((MeasuredValueScaled)io);
        hasOverflow = true;
        if (type == M_ME_TE_1)
            t = MeasuredValueScaledWithCP56Time2a_getTimestamp((MeasuredValueScaledWithCP56Time2a)io);
        break;
    case M_ME_NC_1:
    case M_ME_TC_1:
    case M_ME_TF_1:
        str_float(s, MeasuredValueShort_getValue((MeasuredValueShort)io));
        quality = MeasuredValueShort_getQuality((MeasuredValueShort)io);
        hasOverflow = true;
        if (type == M_ME_TF_1)
            t = MeasuredValueShortWithCP56Time2a_getTimestamp((MeasuredValueShortWithCP56Time2a)io);
        break;
    case M_IT_NA_1:
    case M_IT_TA_1:
    case M_IT_TB_1:
    {
        BinaryCounterReading bcr = IntegratedTotals_getBCR((IntegratedTotals)io);
        str_printf(s, "%d,\"counter\":{\"seq\":%d,\"cy\":%s,\"ca\":%s,\"iv\":%s}", (int)BinaryCounterReading_getValue(bcr),
                   BinaryCounterReading_getSequenceNumber(bcr), BinaryCounterReading_hasCarry(bcr) ? "true" : "false",
                   BinaryCounterReading_isAdjusted(bcr) ? "true" : "false",
                   BinaryCounterReading_isInvalid(bcr) ? "true" : "false");
        if (type == M_IT_TB_1)
            t = IntegratedTotalsWithCP56Time2a_getTimestamp((IntegratedTotalsWithCP56Time2a)io);
        break;
    }
    case M_EI_NA_1:
        str_printf(s, "%d", (int)EndOfInitialization_getCOI((EndOfInitialization)io));
        break;
    case C_SC_NA_1:
    case C_SC_TA_1:
        str_printf(s, "%s,\"select\":%s,\"qu\":%d", SingleCommand_getState((SingleCommand)io) ? "true" : "false",
                   SingleCommand_isSelect((SingleCommand)io) ? "true" : "false", SingleCommand_getQU((SingleCommand)io));
        if (type == C_SC_TA_1)
            t = SingleCommandWithCP56Time2a_getTimestamp((SingleCommandWithCP56Time2a)io);
        break;
    case C_DC_NA_1:
    case C_DC_TA_1:
        str_printf(s, "%d,\"select\":%s,\"qu\":%d", DoubleCommand_getState((DoubleCommand)io),
                   DoubleCommand_isSelect((DoubleCommand)io) ? "true" : "false", DoubleCommand_getQU((DoubleCommand)io));
        if (type == C_DC_TA_1)
            t = DoubleCommandWithCP56Time2a_getTimestamp((DoubleCommandWithCP56Time2a)io);
        break;
    case C_RC_NA_1:
    case C_RC_TA_1:
        str_printf(s, "%d,\"select\":%s,\"qu\":%d", (int)StepCommand_getState((StepCommand)io),
                   StepCommand_isSelect((StepCommand)io) ? "true" : "false", StepCommand_getQU((StepCommand)io));
        if (type == C_RC_TA_1)
            t = StepCommandWithCP56Time2a_getTimestamp((StepCommandWithCP56Time2a)io);
        break;
    case C_SE_NA_1:
    case C_SE_TA_1:
        str_float(s, SetpointCommandNormalized_getValue((SetpointCommandNormalized)io));
        str_printf(s, ",\"select\":%s,\"ql\":%d", SetpointCommandNormalized_isSelect((SetpointCommandNormalized)io) ? "true" : "false",
                   SetpointCommandNormalized_getQL((SetpointCommandNormalized)io));
        if (type == C_SE_TA_1)
            t = SetpointCommandNormalizedWithCP56Time2a_getTimestamp((SetpointCommandNormalizedWithCP56Time2a)io);
        break;
    case C_SE_NB_1:
    case C_SE_TB_1:
        str_printf(s, "%d,\"select\":%s,\"ql\":%d", SetpointCommandScaled_getValue((SetpointCommandScaled)io),
                   SetpointCommandScaled_isSelect((SetpointCommandScaled)io) ? "true" : "false",
                   SetpointCommandScaled_getQL((SetpointCommandScaled)io));
        if (type == C_SE_TB_1)
            t = SetpointCommandScaledWithCP56Time2a_getTimestamp((SetpointCommandScaledWithCP56Time2a)io);
        break;
    case C_SE_NC_1:
    case C_SE_TC_1:
        str_float(s, SetpointCommandShort_getValue((SetpointCommandShort)io));
        str_printf(s, ",\"select\":%s,\"ql\":%d", SetpointCommandShort_isSelect((SetpointCommandShort)io) ? "true" : "false",
                   SetpointCommandShort_getQL((SetpointCommandShort)io));
        if (type == C_SE_TC_1)
            t = SetpointCommandShortWithCP56Time2a_getTimestamp((SetpointCommandShortWithCP56Time2a)io);
        break;
    case C_BO_NA_1:
    case C_BO_TA_1:
        str_printf(s, "%u", (unsigned)Bitstring32Command_getValue((Bitstring32Command)io));
        if (type == C_BO_TA_1)
            t = Bitstring32CommandWithCP56Time2a_getTimestamp((Bitstring32CommandWithCP56Time2a)io);
        break;
    case C_IC_NA_1:
        str_printf(s, "%d", (int)InterrogationCommand_getQOI((InterrogationCommand)io));
        break;
    case C_CI_NA_1:
        str_printf(s, "%d", (int)CounterInterrogationCommand_getQCC((CounterInterrogationCommand)io));
        break;
    case C_CS_NA_1:
        str_puts(s, "null");
        t = ClockSynchronizationCommand_getTime((ClockSynchronizationCommand)io);
        break;
    case C_TS_TA_1:
        str_printf(s, "%d", (int)TestCommandWithCP56Time2a_getCounter((TestCommandWithCP56Time2a)io));
        t = TestCommandWithCP56Time2a_getTimestamp((TestCommandWithCP56Time2a)io);
        break;
    default:
        str_puts(s, "null");
        break;
    }
    str_puts(s, ",\"quality\":");
    if (quality < 0)
        str_puts(s, "null");
    else
        str_quality(s, (QualityDescriptor)quality, hasOverflow);
    str_time(s, t);
    str_puts(s, "}");
}

/*
 * {"type":T,"typeName":"M_SP_NA_1","cot":C,"negative":b,"test":b,"oa":N,"ca":N,"sq":b,"objects":[...]}
 * fields (no braces around them: the caller adds "event").
 */
static void
str_asdu_fields(Str* s, CS101_ASDU asdu, void* ioBuffer)
{
    TypeID type = CS101_ASDU_getTypeID(asdu);
    str_printf(s, "\"type\":%d,\"typeName\":\"%s\",\"cot\":%d,\"negative\":%s,\"test\":%s,\"oa\":%d,\"ca\":%d,\"sq\":%s,\"objects\":[",
               (int)type, TypeID_toString(type), (int)CS101_ASDU_getCOT(asdu), CS101_ASDU_isNegative(asdu) ? "true" : "false",
               CS101_ASDU_isTest(asdu) ? "true" : "false", CS101_ASDU_getOA(asdu), CS101_ASDU_getCA(asdu),
               CS101_ASDU_isSequence(asdu) ? "true" : "false");
    int n = CS101_ASDU_getNumberOfElements(asdu);
    bool first = true;
    for (int i = 0; i < n; i++)
    {
        InformationObject io = CS101_ASDU_getElementEx(asdu, (InformationObject)ioBuffer, i);
        if (io == NULL)
            continue;
        if (!first)
            str_puts(s, ",");
        first = false;
        str_object(s, type, io);
    }
    str_puts(s, "]");
}
