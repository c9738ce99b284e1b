/*
 * iec104_master: an IEC 60870-5-104 controlling station (master/client) on
 * lib60870-C's CS104_Connection, for gridlink's interoperability tests and
 * benchmarks. Driven by line commands on stdin; reports JSON lines on stdout
 * (one object per line, flushed). Built and driven by tests/helpers/lib60870.ts.
 *
 *   iec104_master --port P [--host 127.0.0.1] [--ca 1] [--oa 0]
 *                 [--k 12] [--w 8] [--t0 10] [--t1 15] [--t2 10] [--t3 20]
 *                 [--count-only] [--rate-interval 1000]
 *
 * Stdin (one command a line; every command is answered by exactly one
 * {"event":"ok","cmd":C} or {"event":"error","cmd":C,"message":...}, in order):
 *   connect                       TCP connect (blocks up to t0); then "connected" or "connect_failed"
 *   startdt | stopdt              U frames; the answers arrive as "startdt_con" / "stopdt_con"
 *   gi [QOI]                      C_IC_NA_1 act, QOI 20 (station) unless given
 *   ci [QCC]                      C_CI_NA_1 act, QCC 5 (general request) unless given
 *   read IOA                      C_RD_NA_1
 *   clock [MS]                    C_CS_NA_1 with now (or MS since the epoch)
 *   test                          C_TS_TA_1 (the 104 test command; TSC counts up from 1) with now
 *   sc IOA 0|1 [FLAGS]            C_SC_NA_1 (C_SC_TA_1 with `time`)
 *   dc IOA 0..3 [FLAGS]           C_DC_NA_1 (C_DC_TA_1 with `time`); 1 = off/open, 2 = on/closed
 *   sef IOA FLOAT [FLAGS]         C_SE_NC_1 (C_SE_TC_1 with `time`)
 *       FLAGS: select (S/E = 1), time (CP56Time2a now), deact (COT 8), qu=N (QU or QL)
 *   raw HEX                       writes these bytes to the socket as they are (test-only lib API)
 *   stats                         {"event":"stats","objects":N,"asdus":N}
 *   close                         closes the connection; "closed" is printed before the reply
 *   quit                          exits (so does end of stdin)
 *
 * Stdout events:
 *   {"event":"ready","host":H,"port":P,"ca":N,"k":..,"w":..,"t0":..,"t1":..,"t2":..,"t3":..}
 *   {"event":"connected"} {"event":"connect_failed"} {"event":"closed"}
 *   {"event":"startdt_con"} {"event":"stopdt_con"}
 *   {"event":"asdu","type":T,"typeName":S,"cot":C,"negative":b,"test":b,"oa":N,"ca":N,"sq":b,
 *    "objects":[{"ioa":N,"value":V,"quality":{"iv","nt","sb","bl","ov"}|null,"time":MS|null,"timeInvalid":b, ...}]}
 *      V: boolean for single points/commands; number otherwise (double point 0..3); null when none.
 *      Commands add "select" and "qu" (or "ql"); step positions "transient"; totals "counter".
 *      "time" is the CP56Time2a as ms since the epoch, read as UTC, year 20xx (lib60870's conversion).
 *   {"event":"gi_done","objects":N,"total":N,"ms":F}   on ACTTERM of C_IC_NA_1: information objects
 *      received since the last `gi` command, all received so far, ms since that command
 *   {"event":"rate","objects":N,"intervalMs":F,"total":N,"elapsedMs":F}   --count-only, about once per
 *      interval when objects arrived: objects in the interval, all so far, ms since the process started
 *
 * --count-only: monitoring-direction ASDUs (type < 45) are only counted, not printed;
 * everything else (ACTCON/ACTTERM of commands, GI, clock...) is still printed.
 *
 * Build: gcc -O2 -I OUT/include iec104_master.c OUT/lib/liblib60870.a -lpthread -lm
 */
#include "iec104_common.c"

#include "cs104_connection.h"
#include "hal_time.h"

static const char* USAGE = "iec104_master --port P [--host H] [--ca N] [--oa N] [--k N] [--w N] [--t0 S] [--t1 S] "
                           "[--t2 S] [--t3 S] [--count-only] [--rate-interval MS]";

static CS104_Connection con;
static int ca = 1;
static bool countOnly = false;
static double rateIntervalMs = 1000.0;
static double startMs;
static bool quitRequested = false;

/* Counters: written by lib60870's connection thread, read by main. */
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t totalObjects = 0;
static uint64_t totalAsdus = 0;
static uint64_t giBaseObjects = 0;
static double giStartMs = -1.0;

static void* ioBuffer; /* decode space for one information object (receive thread only) */

static void
connectionHandler(void* parameter, CS104_Connection connection, CS104_ConnectionEvent event)
{
    (void)parameter;
    (void)connection;
    switch (event)
    {
    case CS104_CONNECTION_OPENED:
        emitf("{\"event\":\"connected\"}");
        break;
    case CS104_CONNECTION_CLOSED:
        emitf("{\"event\":\"closed\"}");
        break;
    case CS104_CONNECTION_FAILED:
        emitf("{\"event\":\"connect_failed\"}");
        break;
    case CS104_CONNECTION_STARTDT_CON_RECEIVED:
        emitf("{\"event\":\"startdt_con\"}");
        break;
    case CS104_CONNECTION_STOPDT_CON_RECEIVED:
        emitf("{\"event\":\"stopdt_con\"}");
        break;
    }
}

/* Called by lib60870's connection thread with its state lock held: print only, never send from here. */
static bool
asduHandler(void* parameter, int address, CS101_ASDU asdu)
{
    (void)parameter;
    (void)address;
    TypeID type = CS101_ASDU_getTypeID(asdu);
    int n = CS101_ASDU_getNumberOfElements(asdu);
    bool monitor = (int)type < 45;

    pthread_mutex_lock(&count_lock);
    totalAsdus++;
    if (monitor)
        totalObjects += (uint64_t)n;
    uint64_t total = totalObjects;
    uint64_t base = giBaseObjects;
    double giStart = giStartMs;
    pthread_mutex_unlock(&count_lock);

    if (!countOnly || !monitor)
    {
        Str s = {0};
        str_puts(&s, "{\"event\":\"asdu\",");
        str_asdu_fields(&s, asdu, ioBuffer);
        str_puts(&s, "}");
        str_emit(&s);
    }

    if (type == C_IC_NA_1 && CS101_ASDU_getCOT(asdu) == CS101_COT_ACTIVATION_TERMINATION)
    {
        double ms = giStart >= 0 ? mono_ms() - giStart : -1.0;
        emitf("{\"event\":\"gi_done\",\"objects\":%llu,\"total\":%llu,\"ms\":%.3f}", (unsigned long long)(total - base),
              (unsigned long long)total, ms);
    }
    return true;
}

/* ---------- commands ---------- */

typedef struct
{
    bool select;
    bool withTime;
    bool deact;
    int qu;
} CommandFlags;

static bool
parse_flags(char** words, int n, CommandFlags* f, const char** problem)
{
    memset(f, 0, sizeof(*f));
    for (int i = 0; i < n; i++)
    {
        long v;
        if (!strcmp(words[i], "select"))
            f->select = true;
        else if (!strcmp(words[i], "execute"))
            f->select = false;
        else if (!strcmp(words[i], "time"))
            f->withTime = true;
        else if (!strcmp(words[i], "deact"))
            f->deact = true;
        else if (!strncmp(words[i], "qu=", 3) && parse_long(words[i] + 3, 0, 127, &v))
            f->qu = (int)v;
        else
        {
            *problem = "unknown flag (select, execute, time, deact, qu=N)";
            return false;
        }
    }
    return true;
}

static bool
send_process_command(InformationObject io, const CommandFlags* f)
{
    return CS104_Connection_sendProcessCommandEx(con, f->deact ? CS101_COT_DEACTIVATION : CS101_COT_ACTIVATION, ca, io);
}

static const char* NOT_SENT = "not sent: not connected, or k unconfirmed I frames outstanding";

static void
handle_line(char* line)
{
    char* words[16];
    int n = split_words(line, words, 16);
    if (n == 0)
        return;
    const char* cmd = words[0];
    const char* problem = NULL;
    bool ok = false;

    if (!strcmp(cmd, "connect"))
    {
        if (CS104_Connection_isConnected(con))
            problem = "already connected";
        else if (CS104_Connection_connect(con))
            ok = true;
        else
            problem = "connect failed";
    }
    else if (!strcmp(cmd, "startdt") || !strcmp(cmd, "stopdt"))
    {
        if (!CS104_Connection_isConnected(con))
            problem = "not connected";
        else
        {
            if (!strcmp(cmd, "startdt"))
                CS104_Connection_sendStartDT(con);
            else
                CS104_Connection_sendStopDT(con);
            ok = true;
        }
    }
    else if (!strcmp(cmd, "gi"))
    {
        long qoi = IEC60870_QOI_STATION;
        if (n > 1 && !parse_long(words[1], 0, 255, &qoi))
            problem = "usage: gi [QOI]";
        else
        {
            pthread_mutex_lock(&count_lock);
            giBaseObjects = totalObjects;
            giStartMs = mono_ms();
            pthread_mutex_unlock(&count_lock);
            ok = CS104_Connection_sendInterrogationCommand(con, CS101_COT_ACTIVATION, ca, (QualifierOfInterrogation)qoi);
            if (!ok)
                problem = NOT_SENT;
        }
    }
    else if (!strcmp(cmd, "ci"))
    {
        long qcc = 5;
        if (n > 1 && !parse_long(words[1], 0, 255, &qcc))
            problem = "usage: ci [QCC]";
        else if (!(ok = CS104_Connection_sendCounterInterrogationCommand(con, CS101_COT_ACTIVATION, ca, (uint8_t)qcc)))
            problem = NOT_SENT;
    }
    else if (!strcmp(cmd, "read"))
    {
        long ioa;
        if (n != 2 || !parse_long(words[1], 0, 16777215, &ioa))
            problem = "usage: read IOA";
        else if (!(ok = CS104_Connection_sendReadCommand(con, ca, (int)ioa)))
            problem = NOT_SENT;
    }
    else if (!strcmp(cmd, "clock"))
    {
        long long ms = (long long)wall_ms();
        double given;
        if (n > 1)
        {
            if (!parse_double(words[1], &given) || given < 0)
                problem = "usage: clock [MS_SINCE_EPOCH]";
            else
                ms = (long long)given;
        }
        if (problem == NULL)
        {
            struct sCP56Time2a t;
            CP56Time2a_createFromMsTimestamp(&t, (uint64_t)ms);
            if (!(ok = CS104_Connection_sendClockSyncCommand(con, ca, &t)))
                problem = NOT_SENT;
        }
    }
    else if (!strcmp(cmd, "test"))
    {
        static uint16_t tsc = 0;
        struct sCP56Time2a t;
        CP56Time2a_createFromMsTimestamp(&t, wall_ms());
        if (!(ok = CS104_Connection_sendTestCommandWithTimestamp(con, ca, ++tsc, &t)))
            problem = NOT_SENT;
    }
    else if (!strcmp(cmd, "sc") || !strcmp(cmd, "dc") || !strcmp(cmd, "sef"))
    {
        long ioa;
        CommandFlags f;
        struct sCP56Time2a t;
        CP56Time2a_createFromMsTimestamp(&t, wall_ms());
        if (n < 3 || !parse_long(words[1], 0, 16777215, &ioa))
            problem = "usage: sc|dc|sef IOA VALUE [select] [time] [deact] [qu=N]";
        else if (parse_flags(words + 3, n - 3, &f, &problem))
        {
            InformationObject io = NULL;
            if (!strcmp(cmd, "sc"))
            {
                bool v;
                if (!parse_bool(words[2], &v))
                    problem = "sc VALUE is 0 or 1";
                else if (f.withTime)
                    io = (InformationObject)SingleCommandWithCP56Time2a_create(NULL, (int)ioa, v, f.select, f.qu, &t);
                else
                    io = (InformationObject)SingleCommand_create(NULL, (int)ioa, v, f.select, f.qu);
            }
            else if (!strcmp(cmd, "dc"))
            {
                long v;
                if (!parse_long(words[2], 0, 3, &v))
                    problem = "dc VALUE is 0..3 (1 = off/open, 2 = on/closed)";
                else if (f.withTime)
                    io = (InformationObject)DoubleCommandWithCP56Time2a_create(NULL, (int)ioa, (int)v, f.select, f.qu, &t);
                else
                    io = (InformationObject)DoubleCommand_create(NULL, (int)ioa, (int)v, f.select, f.qu);
            }
            else
            {
                double v;
                if (!parse_double(words[2], &v))
                    problem = "sef VALUE is a number";
                else if (f.withTime)
                    io = (InformationObject)SetpointCommandShortWithCP56Time2a_create(NULL, (int)ioa, (float)v, f.select, f.qu, &t);
                else
                    io = (InformationObject)SetpointCommandShort_create(NULL, (int)ioa, (float)v, f.select, f.qu);
            }
            if (io != NULL)
            {
                if (!(ok = send_process_command(io, &f)))
                    problem = NOT_SENT;
                InformationObject_destroy(io);
            }
        }
    }
    else if (!strcmp(cmd, "raw"))
    {
        uint8_t bytes[512];
        int len = 0;
        bool good = n >= 2;
        for (int i = 1; i < n && good; i++)
        {
            const char* h = words[i];
            size_t hl = strlen(h);
            if (hl % 2 != 0)
                good = false;
            for (size_t j = 0; good && j < hl; j += 2)
            {
                unsigned b;
                char pair[3] = {h[j], h[j + 1], 0};
                if (len >= (int)sizeof(bytes) || sscanf(pair, "%2x", &b) != 1)
                    good = false;
                else
                    bytes[len++] = (uint8_t)b;
            }
        }
        if (!good)
            problem = "usage: raw HEX (e.g. raw 680443000000)";
        else if (CS104_Connection_sendMessage(con, bytes, len) != len)
            problem = "not written (not connected?)";
        else
            ok = true;
    }
    else if (!strcmp(cmd, "stats"))
    {
        pthread_mutex_lock(&count_lock);
        uint64_t objects = totalObjects, asdus = totalAsdus;
        pthread_mutex_unlock(&count_lock);
        emitf("{\"event\":\"stats\",\"objects\":%llu,\"asdus\":%llu}", (unsigned long long)objects,
              (unsigned long long)asdus);
        ok = true;
    }
    else if (!strcmp(cmd, "close"))
    {
        CS104_Connection_close(con); /* joins the connection thread, which prints "closed" */
        ok = true;
    }
    else if (!strcmp(cmd, "quit"))
    {
        quitRequested = true;
        ok = true;
    }
    else
        problem = "unknown command";

    emit_reply(cmd, ok, problem);
}

int
main(int argc, char** argv)
{
    process_setup();
    startMs = mono_ms();

    const char* host = "127.0.0.1";
    long port = -1, oa = 0;
    long k = 12, w = 8, t0 = 10, t1 = 15, t2 = 10, t3 = 20;

    for (int i = 1; i < argc; i++)
    {
        const char* a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : NULL;
        long tmp;
        if (!strcmp(a, "--count-only"))
            countOnly = true;
        else if (!strcmp(a, "--host") && v)
            host = argv[++i];
        else if (!strcmp(a, "--port") && parse_long(v, 1, 65535, &port))
            i++;
        else if (!strcmp(a, "--ca") && parse_long(v, 0, 65535, &tmp))
            ca = (int)tmp, i++;
        else if (!strcmp(a, "--oa") && parse_long(v, 0, 255, &oa))
            i++;
        else if (!strcmp(a, "--k") && parse_long(v, 1, 32767, &k))
            i++;
        else if (!strcmp(a, "--w") && parse_long(v, 1, 32767, &w))
            i++;
        else if (!strcmp(a, "--t0") && parse_long(v, 1, 255, &t0))
            i++;
        else if (!strcmp(a, "--t1") && parse_long(v, 1, 255, &t1))
            i++;
        else if (!strcmp(a, "--t2") && parse_long(v, 1, 255, &t2))
            i++;
        else if (!strcmp(a, "--t3") && parse_long(v, 1, 172800, &t3))
            i++;
        else if (!strcmp(a, "--rate-interval") && parse_long(v, 10, 600000, &tmp))
            rateIntervalMs = (double)tmp, i++;
        else
            die_usage(USAGE, a);
    }
    if (port < 0)
        die_usage(USAGE, "--port is required");

    ioBuffer = calloc(1, (size_t)InformationObject_getMaxSizeInMemory() + 64);

    con = CS104_Connection_create(host, (int)port);
    struct sCS104_APCIParameters apci = {(int)k, (int)w, (int)t0, (int)t1, (int)t2, (int)t3};
    CS104_Connection_setAPCIParameters(con, &apci);
    CS104_Connection_setOriginatorAddress(con, (uint8_t)oa);
    CS104_Connection_setConnectionHandler(con, connectionHandler, NULL);
    CS104_Connection_setASDUReceivedHandler(con, asduHandler, NULL);

    emitf("{\"event\":\"ready\",\"host\":\"%s\",\"port\":%ld,\"ca\":%d,\"oa\":%ld,\"k\":%ld,\"w\":%ld,\"t0\":%ld,\"t1\":%ld,"
          "\"t2\":%ld,\"t3\":%ld,\"countOnly\":%s}",
          host, port, ca, oa, k, w, t0, t1, t2, t3, countOnly ? "true" : "false");

    LineReader reader = {.len = 0};
    double lastRateMs = mono_ms();
    uint64_t lastRateTotal = 0;

    while (!quitRequested)
    {
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        int timeout = countOnly ? 50 : 500;
        int r = poll(&pfd, 1, timeout);
        if (r > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR)))
        {
            if (!read_lines(&reader, handle_line))
                break; /* end of stdin: the test is gone */
        }
        if (countOnly)
        {
            double now = mono_ms();
            if (now - lastRateMs >= rateIntervalMs)
            {
                pthread_mutex_lock(&count_lock);
                uint64_t total = totalObjects;
                pthread_mutex_unlock(&count_lock);
                if (total != lastRateTotal)
                    emitf("{\"event\":\"rate\",\"objects\":%llu,\"intervalMs\":%.3f,\"total\":%llu,\"elapsedMs\":%.3f}",
                          (unsigned long long)(total - lastRateTotal), now - lastRateMs, (unsigned long long)total,
                          now - startMs);
                lastRateTotal = total;
                lastRateMs = now;
            }
        }
    }

    CS104_Connection_destroy(con);
    free(ioBuffer);
    return 0;
}
