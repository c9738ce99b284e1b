/*
 * iec104_slave: an IEC 60870-5-104 controlled station (slave/server/RTU) on
 * lib60870-C's CS104_Slave, for gridlink's interoperability tests and
 * benchmarks. Driven by line commands on stdin; reports JSON lines on stdout
 * (one object per line, flushed). Built and driven by tests/helpers/lib60870.ts.
 *
 *   iec104_slave [--port 0] [--host 127.0.0.1] [--ca 1] [--points N]
 *                [--singles N] [--doubles N] [--floats N] [--sequence]
 *                [--max-queue 1000] [--require-select]
 *                [--k 12] [--w 8] [--t1 15] [--t2 10] [--t3 20] [--tick-ms 0]
 *
 * --port 0 (the default) listens on a free port; the real one is in "listening".
 *
 * --tick-ms N (N > 0): lib60870's threadless mode. By default lib60870 runs
 * each connection in its own thread, which looks at the event queue only when
 * its select() of up to 100 ms returns, so a spontaneous change waits up to
 * 100 ms in the station. With --tick-ms this program calls CS104_Slave_tick()
 * itself: right after every change it enqueues (so it leaves at once), and
 * otherwise at least every N ms (for the master's frames: acknowledgements,
 * interrogations, commands, which are then answered within N ms). A tick
 * reads at most one APDU and sends at most one ASDU, so the program ticks
 * again as long as the last tick moved a message (lib60870's threaded
 * connection loop spins the same way while ASDUs wait).
 *
 * POINT LAYOUT (common address --ca, default 1). --points N sets all three
 * counts (default 10); --singles/--doubles/--floats set one each (0..99999):
 *   single points  IOA      1 .. S        GI: M_SP_NA_1 (1)  spontaneous: M_SP_TB_1 (30)  command: C_SC_NA_1/C_SC_TA_1 (45/58)
 *   double points  IOA 100001 .. 100000+D GI: M_DP_NA_1 (3)  spontaneous: M_DP_TB_1 (31)  command: C_DC_NA_1/C_DC_TA_1 (46/59)
 *   floats         IOA 200001 .. 200000+F GI: M_ME_NC_1 (13) spontaneous: M_ME_TF_1 (36)  command: C_SE_NC_1/C_SE_TC_1 (50/63)
 * Initial values (i = 0-based index in the block): single = (i odd), double =
 * i even ? 1 (OFF) : 2 (ON), float = i + 0.5; all qualities good.
 * GI (QOI 20) answers ACTCON, then every point with COT 20 (SQ=0 ASDUs of up to
 * 60 singles/doubles or 30 floats; SQ=1 with --sequence: 127 singles/doubles or 48 floats),
 * singles first, then doubles, then floats, then ACTTERM. Other QOIs: negative ACTCON.
 *
 * COMMANDS (single, double, set-point float): COT 6 with S/E = 1 (select) ->
 * positive ACTCON, remembered; COT 6 with S/E = 0 (execute) -> positive ACTCON,
 * the point takes the value and is sent spontaneously (COT 3, with CP56Time2a
 * now), then ACTTERM (COT 10): ACTCON, spontaneous and ACTTERM go through the
 * same per-connection queue, in that order. An execute without a matching select
 * is accepted unless --require-select. COT 8 (deactivate) -> DEACTCON (COT 9),
 * selection dropped. Negative answers: wrong COT -> 45, unknown IOA (or wrong
 * type for the IOA) -> 47, broadcast CA -> 46, double command value 0 or 3 ->
 * negative ACTCON. A foreign CA gets COT 46 (lib60870); other type IDs COT 44.
 * C_CS_NA_1 -> ACTCON echoing the time (lib60870). C_RD_NA_1 -> the point with COT 5.
 *
 * Stdin (each answered by {"event":"ok","cmd":C} or {"event":"error","cmd":C,"message":M}):
 *   set IOA VALUE [iv] [nt] [sb] [bl] [ov]  change a point and send it spontaneously
 *                                 (time tag now) through lib60870's event queue
 *                                 (VALUE: 0/1 for singles, 0..3 for doubles, a number for floats)
 *   burst N RATE                  N spontaneous changes at RATE per second (0 = as fast as
 *                                 possible), round robin over all points in layout order,
 *                                 packed per tick into time-tagged ASDUs; never overruns the
 *                                 event queue (waits for the master instead); "burst_done" at the end
 *   burst stop                    ends a running burst ("burst_done" with "stopped":true)
 *   respond normal|negative|noterm|silent   how commands are answered from now on
 *                                 (negative ACTCON / ACTCON without ACTTERM / no answer)
 *   girespond normal|negative|noterm|silent the same for interrogation
 *   close                         closes every open connection from this side
 *   status                        {"event":"status","connections":N,"queued":N,"outbox":N}
 *   quit                          exits (so does end of stdin)
 *
 * Stdout events:
 *   {"event":"listening","port":P,"host":H,"ca":N,"singles":{"first":1,"count":S},
 *    "doubles":{"first":100001,"count":D},"floats":{"first":200001,"count":F}}
 *   {"event":"error","message":M}  (startup failure; exit status 1 or 2)
 *   {"event":"connection","open":true|false,"peer":"127.0.0.1:PORT"}
 *   {"event":"activated","peer":..} {"event":"deactivated","peer":..}   STARTDT / STOPDT
 *   {"event":"gi","qoi":20,"cot":6,"ca":1,"objects":N,"asdus":N}
 *   {"event":"clock","time":MS,"ca":N}
 *   {"event":"read","ioa":N}
 *   {"event":"command","type":46,"ioa":N,"value":V,"select":b,"cot":6,"qu":N,"ca":N,"time":MS|null,
 *    "result":"selected|executed|deactivated|rejected|ignored","reason":S|null}
 *   {"event":"asdu",...}  any other ASDU received (fields as iec104_master prints them)
 *   {"event":"burst_done","changes":N,"asdus":N,"ms":F,"stopped":b}
 *
 * Build: gcc -O2 -I OUT/include iec104_slave.c OUT/lib/liblib60870.a -lpthread -lm
 */
#include "iec104_common.c"

#include <netinet/in.h>
#include <sys/socket.h>

#include "cs104_slave.h"

static const char* USAGE = "iec104_slave [--port P] [--host H] [--ca N] [--points N] [--singles N] [--doubles N] "
                           "[--floats N] [--sequence] [--max-queue N] [--require-select] [--k N] [--w N] "
                           "[--t1 S] [--t2 S] [--t3 S] [--tick-ms N]";

enum
{
    SINGLE_BASE = 1,
    DOUBLE_BASE = 100001,
    FLOAT_BASE = 200001,
    MAX_PER_KIND = 99999
};

typedef enum
{
    K_NONE = -1,
    K_SINGLE = 0,
    K_DOUBLE = 1,
    K_FLOAT = 2
} Kind;

static const int KIND_BASE[3] = {SINGLE_BASE, DOUBLE_BASE, FLOAT_BASE};
static int kindCount[3] = {10, 10, 10};

/* Point values and qualities: pts_lock (a leaf lock: nothing of lib60870 is called while held). */
static pthread_mutex_t pts_lock = PTHREAD_MUTEX_INITIALIZER;
static double* pointValue[3];
static uint8_t* pointQuality[3];

typedef enum
{
    MODE_NORMAL,
    MODE_NEGATIVE,
    MODE_NOTERM,
    MODE_SILENT
} ResponseMode;

static volatile ResponseMode commandMode = MODE_NORMAL;
static volatile ResponseMode giMode = MODE_NORMAL;
static bool requireSelect = false;
static bool useSequence = false;

static CS104_Slave slave;
static CS101_AppLayerParameters alParams;
static int ownCA = 1;
static int maxQueue = 1000;
static bool quitRequested = false;
static int wakePipe[2] = {-1, -1};

/* ---------- points ---------- */

static Kind
kind_of(int ioa, int* index)
{
    for (int k = 0; k < 3; k++)
    {
        if (ioa >= KIND_BASE[k] && ioa < KIND_BASE[k] + kindCount[k])
        {
            *index = ioa - KIND_BASE[k];
            return (Kind)k;
        }
    }
    return K_NONE;
}

static Kind
command_kind(TypeID type)
{
    switch (type)
    {
    case C_SC_NA_1:
    case C_SC_TA_1:
        return K_SINGLE;
    case C_DC_NA_1:
    case C_DC_TA_1:
        return K_DOUBLE;
    case C_SE_NC_1:
    case C_SE_TC_1:
        return K_FLOAT;
    default:
        return K_NONE;
    }
}

static void
point_get(Kind k, int index, double* value, uint8_t* quality)
{
    pthread_mutex_lock(&pts_lock);
    *value = pointValue[k][index];
    *quality = pointQuality[k][index];
    pthread_mutex_unlock(&pts_lock);
}

static void
point_set(Kind k, int index, double value, uint8_t quality)
{
    pthread_mutex_lock(&pts_lock);
    pointValue[k][index] = value;
    pointQuality[k][index] = quality;
    pthread_mutex_unlock(&pts_lock);
}

/* An information object for a point into storage (InformationObject_getMaxSizeInMemory() bytes). */
static InformationObject
make_object(void* storage, Kind k, int ioa, double value, uint8_t quality, CP56Time2a timestamp)
{
    switch (k)
    {
    case K_SINGLE:
        if (timestamp)
            return (InformationObject)SinglePointWithCP56Time2a_create((SinglePointWithCP56Time2a)storage, ioa, value != 0,
                                                                       quality, timestamp);
        return (InformationObject)SinglePointInformation_create((SinglePointInformation)storage, ioa, value != 0, quality);
    case K_DOUBLE:
        if (timestamp)
            return (InformationObject)DoublePointWithCP56Time2a_create((DoublePointWithCP56Time2a)storage, ioa,
                                                                       (DoublePointValue)(int)value, quality, timestamp);
        return (InformationObject)DoublePointInformation_create((DoublePointInformation)storage, ioa,
                                                                (DoublePointValue)(int)value, quality);
    case K_FLOAT:
        if (timestamp)
            return (InformationObject)MeasuredValueShortWithCP56Time2a_create((MeasuredValueShortWithCP56Time2a)storage, ioa,
                                                                              (float)value, quality, timestamp);
        return (InformationObject)MeasuredValueShort_create((MeasuredValueShort)storage, ioa, (float)value, quality);
    default:
        return NULL;
    }
}

static void*
object_storage(void)
{
    return calloc(1, (size_t)InformationObject_getMaxSizeInMemory() + 64);
}

/* ---------- connections: generation counters so stale queued answers are dropped ---------- */

typedef struct
{
    IMasterConnection con; /* set once per pooled lib60870 connection object, never cleared */
    unsigned gen;          /* bumped on open/close/STARTDT/STOPDT (atomics only: called under lib locks) */
    int open;
} ConSlot;

static ConSlot slots[256];

static ConSlot*
slot_of(IMasterConnection con)
{
    for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++)
        if (__atomic_load_n(&slots[i].con, __ATOMIC_ACQUIRE) == con)
            return &slots[i];
    for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++)
    {
        IMasterConnection expected = NULL;
        if (__atomic_compare_exchange_n(&slots[i].con, &expected, con, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return &slots[i];
        if (expected == con)
            return &slots[i];
    }
    return NULL;
}

static unsigned
gen_of(IMasterConnection con)
{
    ConSlot* s = slot_of(con);
    return s ? __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) : 0;
}

static void
bump_gen(IMasterConnection con)
{
    ConSlot* s = slot_of(con);
    if (s)
        __atomic_add_fetch(&s->gen, 1, __ATOMIC_ACQ_REL);
}

static void
wake_main(void)
{
    char b = 1;
    ssize_t r = write(wakePipe[1], &b, 1);
    (void)r;
}

/* ---------- ordered answers ----------
 * Answers (ACTCON, GI data, return information, ACTTERM...) go to lib60870's
 * per-connection high-priority queue, which the connection thread sends in
 * order as the k window allows. When that queue is full they wait here, in
 * order, and the main loop feeds them in later. outbox_lock is only taken by
 * our handlers (never under a lib60870 lock) and by the main loop (which never
 * calls lib60870 while holding it).
 */
typedef struct OutItem
{
    struct OutItem* next;
    IMasterConnection con;
    unsigned gen;
    CS101_ASDU asdu;
} OutItem;

static pthread_mutex_t outbox_lock = PTHREAD_MUTEX_INITIALIZER;
static OutItem* outHead = NULL;
static OutItem* outTail = NULL;
static int outCount = 0;
static bool outInflight = false;

static void
respond(IMasterConnection con, CS101_ASDU asdu)
{
    pthread_mutex_lock(&outbox_lock);
    if (outHead == NULL && !outInflight && IMasterConnection_sendASDU(con, asdu))
    {
        pthread_mutex_unlock(&outbox_lock);
        return;
    }
    OutItem* item = calloc(1, sizeof(OutItem));
    item->con = con;
    item->gen = gen_of(con);
    item->asdu = CS101_ASDU_clone(asdu, NULL);
    if (outTail)
        outTail->next = item;
    else
        outHead = item;
    outTail = item;
    outCount++;
    pthread_mutex_unlock(&outbox_lock);
    wake_main();
}

/* Main loop: feeds waiting answers into lib60870. Returns true while some still wait. */
static bool
drain_outbox(void)
{
    for (;;)
    {
        pthread_mutex_lock(&outbox_lock);
        OutItem* item = outHead;
        if (item == NULL)
        {
            pthread_mutex_unlock(&outbox_lock);
            return false;
        }
        outHead = item->next;
        if (outHead == NULL)
            outTail = NULL;
        outCount--;
        outInflight = true;
        pthread_mutex_unlock(&outbox_lock);

        bool current = gen_of(item->con) == item->gen;
        if (current && !IMasterConnection_sendASDU(item->con, item->asdu))
        {
            pthread_mutex_lock(&outbox_lock); /* still full: put it back in front */
            item->next = outHead;
            outHead = item;
            if (outTail == NULL)
                outTail = item;
            outCount++;
            outInflight = false;
            pthread_mutex_unlock(&outbox_lock);
            return true;
        }
        CS101_ASDU_destroy(item->asdu);
        free(item);
        pthread_mutex_lock(&outbox_lock);
        outInflight = false;
        pthread_mutex_unlock(&outbox_lock);
    }
}

/* ---------- lib60870 handlers ---------- */

static void
peer_of(IMasterConnection con, char* buf, int size)
{
    buf[0] = '\0';
    if (IMasterConnection_getPeerAddress(con, buf, size) <= 0)
        snprintf(buf, (size_t)size, "?");
}

static bool
connectionRequestHandler(void* parameter, const char* ipAddress)
{
    (void)parameter;
    (void)ipAddress;
    return true;
}

static void
connectionEventHandler(void* parameter, IMasterConnection con, CS104_PeerConnectionEvent event)
{
    (void)parameter;
    /* ACTIVATED/DEACTIVATED come with lib60870's connection state lock held: no locks of ours here but out_lock. */
    char peer[64];
    peer_of(con, peer, sizeof(peer));
    ConSlot* s = slot_of(con);
    bump_gen(con);
    Str out = {0};
    switch (event)
    {
    case CS104_CON_EVENT_CONNECTION_OPENED:
        if (s)
            __atomic_store_n(&s->open, 1, __ATOMIC_RELEASE);
        str_puts(&out, "{\"event\":\"connection\",\"open\":true,\"peer\":");
        break;
    case CS104_CON_EVENT_CONNECTION_CLOSED:
        if (s)
            __atomic_store_n(&s->open, 0, __ATOMIC_RELEASE);
        str_puts(&out, "{\"event\":\"connection\",\"open\":false,\"peer\":");
        break;
    case CS104_CON_EVENT_ACTIVATED:
        str_puts(&out, "{\"event\":\"activated\",\"peer\":");
        break;
    case CS104_CON_EVENT_DEACTIVATED:
        str_puts(&out, "{\"event\":\"deactivated\",\"peer\":");
        break;
    default:
        str_printf(&out, "{\"event\":\"connection_event\",\"code\":%d,\"peer\":", (int)event);
        break;
    }
    str_json_string(&out, peer);
    str_puts(&out, "}");
    str_emit(&out);
}

static bool
allowedCAHandler(void* parameter, int ca)
{
    (void)parameter;
    return ca == ownCA;
}

static bool
is_broadcast(int ca)
{
    return ca == 65535;
}

static void
respond_cot(IMasterConnection con, CS101_ASDU asdu, CS101_CauseOfTransmission cot, bool negative)
{
    CS101_ASDU_setCOT(asdu, cot);
    CS101_ASDU_setNegative(asdu, negative);
    respond(con, asdu);
}

/* All points of the layout as ASDUs with `cot`; returns the number of objects. */
static int
send_all_points(IMasterConnection con, int oa, CS101_CauseOfTransmission cot, int* asdus)
{
    void* storage = object_storage();
    int objects = 0;
    for (int k = 0; k < 3; k++)
    {
        CS101_ASDU a = NULL;
        for (int i = 0; i < kindCount[k]; i++)
        {
            double v;
            uint8_t q;
            point_get((Kind)k, i, &v, &q);
            InformationObject io = make_object(storage, (Kind)k, KIND_BASE[k] + i, v, q, NULL);
            if (a == NULL)
                a = CS101_ASDU_create(alParams, useSequence, cot, oa, ownCA, false, false);
            if (!CS101_ASDU_addInformationObject(a, io))
            {
                respond(con, a);
                (*asdus)++;
                CS101_ASDU_destroy(a);
                a = CS101_ASDU_create(alParams, useSequence, cot, oa, ownCA, false, false);
                CS101_ASDU_addInformationObject(a, io);
            }
            objects++;
        }
        if (a != NULL)
        {
            respond(con, a);
            (*asdus)++;
            CS101_ASDU_destroy(a);
        }
    }
    free(storage);
    return objects;
}

static bool
interrogationHandler(void* parameter, IMasterConnection con, CS101_ASDU asdu, uint8_t qoi)
{
    (void)parameter;
    int cot = CS101_ASDU_getCOT(asdu);
    int objects = 0, asdus = 0;
    ResponseMode mode = giMode;

    if (mode == MODE_SILENT)
        ;
    else if (cot == CS101_COT_DEACTIVATION)
        respond_cot(con, asdu, CS101_COT_DEACTIVATION_CON, false);
    else if (qoi != IEC60870_QOI_STATION || mode == MODE_NEGATIVE)
        respond_cot(con, asdu, CS101_COT_ACTIVATION_CON, true);
    else
    {
        respond_cot(con, asdu, CS101_COT_ACTIVATION_CON, false);
        objects = send_all_points(con, CS101_ASDU_getOA(asdu), CS101_COT_INTERROGATED_BY_STATION, &asdus);
        if (mode != MODE_NOTERM)
            respond_cot(con, asdu, CS101_COT_ACTIVATION_TERMINATION, false);
    }
    emitf("{\"event\":\"gi\",\"qoi\":%d,\"cot\":%d,\"ca\":%d,\"objects\":%d,\"asdus\":%d}", (int)qoi, cot,
          CS101_ASDU_getCA(asdu), objects, asdus);
    return true;
}

static bool
clockSyncHandler(void* parameter, IMasterConnection con, CS101_ASDU asdu, CP56Time2a newTime)
{
    (void)parameter;
    (void)con;
    emitf("{\"event\":\"clock\",\"time\":%llu,\"ca\":%d}", (unsigned long long)CP56Time2a_toMsTimestamp(newTime),
          CS101_ASDU_getCA(asdu));
    return true; /* lib60870 answers ACTCON with the received time */
}

static bool
readHandler(void* parameter, IMasterConnection con, CS101_ASDU asdu, int ioa)
{
    (void)parameter;
    emitf("{\"event\":\"read\",\"ioa\":%d}", ioa);
    int index;
    Kind k = kind_of(ioa, &index);
    if (k == K_NONE)
    {
        respond_cot(con, asdu, CS101_COT_UNKNOWN_IOA, true);
        return true;
    }
    double v;
    uint8_t q;
    point_get(k, index, &v, &q);
    void* storage = object_storage();
    CS101_ASDU a = CS101_ASDU_create(alParams, false, CS101_COT_REQUEST, CS101_ASDU_getOA(asdu), ownCA, false, false);
    CS101_ASDU_addInformationObject(a, make_object(storage, k, ioa, v, q, NULL));
    respond(con, a);
    CS101_ASDU_destroy(a);
    free(storage);
    return true;
}

/* The last selects: (kind, ioa, value). Guarded by pts_lock. */
typedef struct
{
    bool used;
    Kind kind;
    int ioa;
    double value;
} Selection;

static Selection selections[64];

static Selection*
find_selection(Kind k, int ioa)
{
    for (size_t i = 0; i < sizeof(selections) / sizeof(selections[0]); i++)
        if (selections[i].used && selections[i].kind == k && selections[i].ioa == ioa)
            return &selections[i];
    return NULL;
}

static void
remember_selection(Kind k, int ioa, double value)
{
    pthread_mutex_lock(&pts_lock);
    Selection* s = find_selection(k, ioa);
    for (size_t i = 0; s == NULL && i < sizeof(selections) / sizeof(selections[0]); i++)
        if (!selections[i].used)
            s = &selections[i];
    if (s == NULL)
        s = &selections[0];
    s->used = true;
    s->kind = k;
    s->ioa = ioa;
    s->value = value;
    pthread_mutex_unlock(&pts_lock);
}

/* Drops the selection; returns whether there was one with this value. */
static bool
take_selection(Kind k, int ioa, double value)
{
    pthread_mutex_lock(&pts_lock);
    Selection* s = find_selection(k, ioa);
    bool matched = s != NULL && s->value == value;
    if (s)
        s->used = false;
    pthread_mutex_unlock(&pts_lock);
    return matched;
}

/* The spontaneous return information of an executed command: COT 3, CP56Time2a now. */
static void
send_spontaneous_to(IMasterConnection con, Kind k, int ioa, double value, uint8_t quality)
{
    void* storage = object_storage();
    struct sCP56Time2a t;
    CP56Time2a_createFromMsTimestamp(&t, wall_ms());
    CS101_ASDU a = CS101_ASDU_create(alParams, false, CS101_COT_SPONTANEOUS, 0, ownCA, false, false);
    CS101_ASDU_addInformationObject(a, make_object(storage, k, ioa, value, quality, &t));
    respond(con, a);
    CS101_ASDU_destroy(a);
    free(storage);
}

static bool
asduHandler(void* parameter, IMasterConnection con, CS101_ASDU asdu)
{
    (void)parameter;
    TypeID type = CS101_ASDU_getTypeID(asdu);
    Kind k = command_kind(type);
    void* storage = object_storage();
    InformationObject io = k == K_NONE ? NULL : CS101_ASDU_getElementEx(asdu, (InformationObject)storage, 0);

    if (io == NULL)
    {
        Str s = {0};
        str_puts(&s, "{\"event\":\"asdu\",");
        str_asdu_fields(&s, asdu, storage);
        str_puts(&s, "}");
        str_emit(&s);
        free(storage);
        return false; /* lib60870 answers COT 44 (unknown type), negative */
    }

    int ioa = InformationObject_getObjectAddress(io);
    int cot = CS101_ASDU_getCOT(asdu);
    int ca = CS101_ASDU_getCA(asdu);
    double value = 0;
    bool select = false;
    int qu = 0;
    CP56Time2a t = NULL;
    switch (type)
    {
    case C_SC_NA_1:
    case C_SC_TA_1:
        value = SingleCommand_getState((SingleCommand)io) ? 1 : 0;
        select = SingleCommand_isSelect((SingleCommand)io);
        qu = SingleCommand_getQU((SingleCommand)io);
        if (type == C_SC_TA_1)
            t = SingleCommandWithCP56Time2a_getTimestamp((SingleCommandWithCP56Time2a)io);
        break;
    case C_DC_NA_1:
    case C_DC_TA_1:
        value = DoubleCommand_getState((DoubleCommand)io);
        select = DoubleCommand_isSelect((DoubleCommand)io);
        qu = DoubleCommand_getQU((DoubleCommand)io);
        if (type == C_DC_TA_1)
            t = DoubleCommandWithCP56Time2a_getTimestamp((DoubleCommandWithCP56Time2a)io);
        break;
    default: /* C_SE_NC_1, C_SE_TC_1 */
        value = SetpointCommandShort_getValue((SetpointCommandShort)io);
        select = SetpointCommandShort_isSelect((SetpointCommandShort)io);
        qu = SetpointCommandShort_getQL((SetpointCommandShort)io);
        if (type == C_SE_TC_1)
            t = SetpointCommandShortWithCP56Time2a_getTimestamp((SetpointCommandShortWithCP56Time2a)io);
        break;
    }
    uint64_t timeMs = t ? CP56Time2a_toMsTimestamp(t) : 0;
    free(storage);

    const char* result = "ignored";
    const char* reason = NULL;
    int index = 0;
    Kind pointKind = kind_of(ioa, &index);
    ResponseMode mode = commandMode;

    if (mode == MODE_SILENT)
        reason = "respond silent";
    else if (is_broadcast(ca))
    {
        respond_cot(con, asdu, CS101_COT_UNKNOWN_CA, true);
        result = "rejected", reason = "broadcast CA";
    }
    else if (cot != CS101_COT_ACTIVATION && cot != CS101_COT_DEACTIVATION)
    {
        respond_cot(con, asdu, CS101_COT_UNKNOWN_COT, true);
        result = "rejected", reason = "unknown COT";
    }
    else if (pointKind != k)
    {
        respond_cot(con, asdu, CS101_COT_UNKNOWN_IOA, true);
        result = "rejected", reason = "unknown IOA";
    }
    else if (cot == CS101_COT_DEACTIVATION)
    {
        take_selection(k, ioa, value);
        respond_cot(con, asdu, CS101_COT_DEACTIVATION_CON, mode == MODE_NEGATIVE);
        result = mode == MODE_NEGATIVE ? "rejected" : "deactivated";
        reason = mode == MODE_NEGATIVE ? "respond negative" : NULL;
    }
    else if (k == K_DOUBLE && (value == 0 || value == 3))
    {
        respond_cot(con, asdu, CS101_COT_ACTIVATION_CON, true);
        result = "rejected", reason = "double command value not permitted";
    }
    else if (mode == MODE_NEGATIVE)
    {
        respond_cot(con, asdu, CS101_COT_ACTIVATION_CON, true);
        result = "rejected", reason = "respond negative";
    }
    else if (select)
    {
        remember_selection(k, ioa, value);
        respond_cot(con, asdu, CS101_COT_ACTIVATION_CON, false);
        result = "selected";
    }
    else
    {
        bool selected = take_selection(k, ioa, value);
        if (requireSelect && !selected)
        {
            respond_cot(con, asdu, CS101_COT_ACTIVATION_CON, true);
            result = "rejected", reason = "execute without select";
        }
        else
        {
            respond_cot(con, asdu, CS101_COT_ACTIVATION_CON, false);
            double v;
            uint8_t q;
            point_get(k, index, &v, &q);
            double newValue = k == K_FLOAT ? (double)(float)value : value;
            point_set(k, index, newValue, IEC60870_QUALITY_GOOD);
            send_spontaneous_to(con, k, ioa, newValue, IEC60870_QUALITY_GOOD);
            if (mode != MODE_NOTERM)
                respond_cot(con, asdu, CS101_COT_ACTIVATION_TERMINATION, false);
            result = "executed";
        }
    }

    Str s = {0};
    str_printf(&s, "{\"event\":\"command\",\"type\":%d,\"ioa\":%d,\"value\":", (int)type, ioa);
    if (k == K_SINGLE)
        str_puts(&s, value != 0 ? "true" : "false");
    else if (k == K_DOUBLE)
        str_printf(&s, "%d", (int)value);
    else
        str_float(&s, (float)value);
    str_printf(&s, ",\"select\":%s,\"cot\":%d,\"qu\":%d,\"ca\":%d,\"time\":", select ? "true" : "false", cot, qu, ca);
    if (t)
        str_printf(&s, "%llu", (unsigned long long)timeMs);
    else
        str_puts(&s, "null");
    str_puts(&s, ",\"result\":");
    str_json_string(&s, result);
    str_puts(&s, ",\"reason\":");
    if (reason)
        str_json_string(&s, reason);
    else
        str_puts(&s, "null");
    str_puts(&s, "}");
    str_emit(&s);
    return true;
}

/* ---------- spontaneous data from the main thread (lib60870's event queue) ---------- */

static void
enqueue_event(CS101_ASDU a)
{
    CS104_Slave_enqueueASDU(slave, a);
}

static bool
queue_has_room(void)
{
    return CS104_Slave_getNumberOfQueueEntries(slave, NULL) < maxQueue - 2;
}

static struct
{
    bool active;
    long total;
    long emitted;
    double rate;
    double startMs;
    long asdus;
    long cursor; /* index over all points in layout order */
} burst;

static long
total_points(void)
{
    return (long)kindCount[0] + kindCount[1] + kindCount[2];
}

static Kind
point_at(long cursor, int* index)
{
    for (int k = 0; k < 3; k++)
    {
        if (cursor < kindCount[k])
        {
            *index = (int)cursor;
            return (Kind)k;
        }
        cursor -= kindCount[k];
    }
    *index = 0;
    return K_NONE;
}

static double
next_value(Kind k, double v)
{
    switch (k)
    {
    case K_SINGLE:
        return v != 0 ? 0 : 1;
    case K_DOUBLE:
        return v == 1 ? 2 : 1;
    default:
        return (double)(float)(v + 1.0);
    }
}

static void
burst_finish(bool stopped)
{
    emitf("{\"event\":\"burst_done\",\"changes\":%ld,\"asdus\":%ld,\"ms\":%.3f,\"stopped\":%s}", burst.emitted, burst.asdus,
          mono_ms() - burst.startMs, stopped ? "true" : "false");
    burst.active = false;
}

static void
burst_tick(void)
{
    if (!burst.active)
        return;
    long due = burst.total;
    if (burst.rate > 0)
    {
        double d = (mono_ms() - burst.startMs) * burst.rate / 1000.0;
        if (d < (double)due)
            due = (long)d;
    }
    void* storage = object_storage();
    while (burst.emitted < due && queue_has_room())
    {
        struct sCP56Time2a t;
        CP56Time2a_createFromMsTimestamp(&t, wall_ms());
        CS101_ASDU a = CS101_ASDU_create(alParams, false, CS101_COT_SPONTANEOUS, 0, ownCA, false, false);
        int index;
        Kind first = point_at(burst.cursor, &index);
        int added = 0;
        while (burst.emitted < due)
        {
            Kind k = point_at(burst.cursor, &index);
            if (k != first)
                break;
            double v;
            uint8_t q;
            point_get(k, index, &v, &q);
            double nv = next_value(k, v);
            if (!CS101_ASDU_addInformationObject(a, make_object(storage, k, KIND_BASE[k] + index, nv, q, &t)))
                break;
            point_set(k, index, nv, q);
            added++;
            burst.emitted++;
            burst.cursor = (burst.cursor + 1) % total_points();
        }
        if (added > 0)
        {
            enqueue_event(a);
            burst.asdus++;
        }
        CS101_ASDU_destroy(a);
    }
    free(storage);
    if (burst.emitted >= burst.total)
        burst_finish(false);
}

/* ---------- stdin commands ---------- */

static bool
parse_mode(const char* text, ResponseMode* mode)
{
    if (text == NULL)
        return false;
    if (!strcmp(text, "normal"))
        *mode = MODE_NORMAL;
    else if (!strcmp(text, "negative"))
        *mode = MODE_NEGATIVE;
    else if (!strcmp(text, "noterm"))
        *mode = MODE_NOTERM;
    else if (!strcmp(text, "silent"))
        *mode = MODE_SILENT;
    else
        return false;
    return true;
}

static void
handle_line(char* line)
{
    char* words[16];
    int n = split_words(line, words, 16);
    if (n == 0)
        return;
    const char* cmd = words[0];
    const char* problem = NULL;

    if (!strcmp(cmd, "set"))
    {
        long ioa;
        int index = 0;
        Kind k = K_NONE;
        double value = 0;
        uint8_t quality = IEC60870_QUALITY_GOOD;
        if (n < 3 || !parse_long(words[1], 0, 16777215, &ioa))
            problem = "usage: set IOA VALUE [iv] [nt] [sb] [bl] [ov]";
        else if ((k = kind_of((int)ioa, &index)) == K_NONE)
            problem = "no such IOA in the layout";
        else if (k == K_SINGLE)
        {
            bool b;
            if (!parse_bool(words[2], &b))
                problem = "a single point is 0 or 1";
            value = b ? 1 : 0;
        }
        else if (k == K_DOUBLE)
        {
            long d;
            if (!parse_long(words[2], 0, 3, &d))
                problem = "a double point is 0..3";
            value = (double)d;
        }
        else if (!parse_double(words[2], &value))
            problem = "a float point takes a number";
        else
            value = (double)(float)value;
        for (int i = 3; i < n && problem == NULL; i++)
        {
            if (!strcmp(words[i], "iv"))
                quality |= IEC60870_QUALITY_INVALID;
            else if (!strcmp(words[i], "nt"))
                quality |= IEC60870_QUALITY_NON_TOPICAL;
            else if (!strcmp(words[i], "sb"))
                quality |= IEC60870_QUALITY_SUBSTITUTED;
            else if (!strcmp(words[i], "bl"))
                quality |= IEC60870_QUALITY_BLOCKED;
            else if (!strcmp(words[i], "ov") && k == K_FLOAT)
                quality |= IEC60870_QUALITY_OVERFLOW;
            else
                problem = "quality flags: iv nt sb bl, and ov for floats";
        }
        if (problem == NULL)
        {
            point_set(k, index, value, quality);
            void* storage = object_storage();
            struct sCP56Time2a t;
            CP56Time2a_createFromMsTimestamp(&t, wall_ms());
            CS101_ASDU a = CS101_ASDU_create(alParams, false, CS101_COT_SPONTANEOUS, 0, ownCA, false, false);
            CS101_ASDU_addInformationObject(a, make_object(storage, k, (int)ioa, value, quality, &t));
            enqueue_event(a);
            CS101_ASDU_destroy(a);
            free(storage);
        }
    }
    else if (!strcmp(cmd, "burst"))
    {
        long count;
        double rate;
        if (n == 2 && !strcmp(words[1], "stop"))
        {
            if (burst.active)
                burst_finish(true);
        }
        else if (n != 3 || !parse_long(words[1], 1, 1000000000L, &count) || !parse_double(words[2], &rate) || rate < 0)
            problem = "usage: burst N RATE | burst stop";
        else if (total_points() == 0)
            problem = "no points";
        else
        {
            if (burst.active)
                burst_finish(true);
            burst.active = true;
            burst.total = count;
            burst.emitted = 0;
            burst.rate = rate;
            burst.asdus = 0;
            burst.startMs = mono_ms();
        }
    }
    else if (!strcmp(cmd, "respond") || !strcmp(cmd, "girespond"))
    {
        ResponseMode mode;
        if (n != 2 || !parse_mode(words[1], &mode))
            problem = "usage: respond|girespond normal|negative|noterm|silent";
        else if (!strcmp(cmd, "respond"))
            commandMode = mode;
        else
            giMode = mode;
    }
    else if (!strcmp(cmd, "close"))
    {
        for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++)
        {
            IMasterConnection c = __atomic_load_n(&slots[i].con, __ATOMIC_ACQUIRE);
            if (c && __atomic_load_n(&slots[i].open, __ATOMIC_ACQUIRE))
                IMasterConnection_close(c);
        }
    }
    else if (!strcmp(cmd, "status"))
    {
        int open = 0;
        for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++)
            if (__atomic_load_n(&slots[i].con, __ATOMIC_ACQUIRE) && __atomic_load_n(&slots[i].open, __ATOMIC_ACQUIRE))
                open++;
        pthread_mutex_lock(&outbox_lock);
        int outbox = outCount;
        pthread_mutex_unlock(&outbox_lock);
        emitf("{\"event\":\"status\",\"connections\":%d,\"queued\":%d,\"outbox\":%d}", open,
              CS104_Slave_getNumberOfQueueEntries(slave, NULL), outbox);
    }
    else if (!strcmp(cmd, "quit"))
        quitRequested = true;
    else
        problem = "unknown command";

    emit_reply(cmd, problem == NULL, problem);
}

/* lib60870 has no API for the bound port: find our one listening socket. */
static int
listening_port(void)
{
    for (int fd = 0; fd < 4096; fd++)
    {
        int accepting = 0;
        socklen_t len = sizeof(accepting);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting)
            continue;
        struct sockaddr_in sa;
        socklen_t sl = sizeof(sa);
        if (getsockname(fd, (struct sockaddr*)&sa, &sl) == 0 && sa.sin_family == AF_INET)
            return ntohs(sa.sin_port);
    }
    return -1;
}

/* Messages lib60870 sent or received so far (its raw message handler): a tick that moved none has nothing more to do. */
static unsigned long rawMessages = 0;

static void
rawMessageHandler(void* parameter, IMasterConnection connection, uint8_t* msg, int msgSize, bool sent)
{
    (void)parameter;
    (void)connection;
    (void)msg;
    (void)msgSize;
    (void)sent;
    rawMessages++;
}

static int
asdus_for(int count, int perAsdu)
{
    return (count + perAsdu - 1) / perAsdu;
}

int
main(int argc, char** argv)
{
    process_setup();

    const char* host = "127.0.0.1";
    long port = 0;
    long k = 12, w = 8, t1 = 15, t2 = 10, t3 = 20, tickMs = 0;

    for (int i = 1; i < argc; i++)
    {
        const char* a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : NULL;
        long tmp;
        if (!strcmp(a, "--sequence"))
            useSequence = true;
        else if (!strcmp(a, "--require-select"))
            requireSelect = true;
        else if (!strcmp(a, "--host") && v)
            host = argv[++i];
        else if (!strcmp(a, "--port") && parse_long(v, 0, 65535, &port))
            i++;
        else if (!strcmp(a, "--ca") && parse_long(v, 1, 65534, &tmp))
            ownCA = (int)tmp, i++;
        else if (!strcmp(a, "--points") && parse_long(v, 0, MAX_PER_KIND, &tmp))
            kindCount[0] = kindCount[1] = kindCount[2] = (int)tmp, i++;
        else if (!strcmp(a, "--singles") && parse_long(v, 0, MAX_PER_KIND, &tmp))
            kindCount[K_SINGLE] = (int)tmp, i++;
        else if (!strcmp(a, "--doubles") && parse_long(v, 0, MAX_PER_KIND, &tmp))
            kindCount[K_DOUBLE] = (int)tmp, i++;
        else if (!strcmp(a, "--floats") && parse_long(v, 0, MAX_PER_KIND, &tmp))
            kindCount[K_FLOAT] = (int)tmp, i++;
        else if (!strcmp(a, "--max-queue") && parse_long(v, 10, 1000000, &tmp))
            maxQueue = (int)tmp, i++;
        else if (!strcmp(a, "--k") && parse_long(v, 1, 32767, &k))
            i++;
        else if (!strcmp(a, "--w") && parse_long(v, 1, 32767, &w))
            i++;
        else if (!strcmp(a, "--t1") && parse_long(v, 1, 255, &t1))
            i++;
        else if (!strcmp(a, "--t2") && parse_long(v, 1, 255, &t2))
            i++;
        else if (!strcmp(a, "--t3") && parse_long(v, 1, 172800, &t3))
            i++;
        else if (!strcmp(a, "--tick-ms") && parse_long(v, 0, 1000, &tickMs))
            i++;
        else
            die_usage(USAGE, a);
    }

    for (int kk = 0; kk < 3; kk++)
    {
        pointValue[kk] = calloc((size_t)kindCount[kk] + 1, sizeof(double));
        pointQuality[kk] = calloc((size_t)kindCount[kk] + 1, 1);
        for (int i = 0; i < kindCount[kk]; i++)
        {
            pointValue[kk][i] = kk == K_SINGLE ? (i % 2) : kk == K_DOUBLE ? (i % 2 == 0 ? 1 : 2) : (double)(float)(i + 0.5);
            pointQuality[kk][i] = IEC60870_QUALITY_GOOD;
        }
    }

    if (pipe2(wakePipe, O_NONBLOCK | O_CLOEXEC) != 0)
    {
        emitf("{\"event\":\"error\",\"message\":\"pipe failed\"}");
        return 1;
    }

    /* The high-priority (per-connection answer) queue holds a whole GI and then some. */
    int giAsdus = asdus_for(kindCount[0], 60) + asdus_for(kindCount[1], 60) + asdus_for(kindCount[2], 30);
    int highPrio = giAsdus * 2 + 64;
    slave = CS104_Slave_create(maxQueue, highPrio);
    CS104_Slave_setLocalAddress(slave, host);
    CS104_Slave_setLocalPort(slave, (int)port);
    CS104_Slave_setServerMode(slave, CS104_MODE_SINGLE_REDUNDANCY_GROUP);
    CS104_APCIParameters apci = CS104_Slave_getConnectionParameters(slave);
    apci->k = (int)k;
    apci->w = (int)w;
    apci->t1 = (int)t1;
    apci->t2 = (int)t2;
    apci->t3 = (int)t3;
    alParams = CS104_Slave_getAppLayerParameters(slave);

    CS104_Slave_setConnectionRequestHandler(slave, connectionRequestHandler, NULL);
    CS104_Slave_setConnectionEventHandler(slave, connectionEventHandler, NULL);
    CS104_Slave_setAllowedCAHandler(slave, allowedCAHandler, NULL);
    CS104_Slave_setInterrogationHandler(slave, interrogationHandler, NULL);
    CS104_Slave_setClockSyncHandler(slave, clockSyncHandler, NULL);
    CS104_Slave_setReadHandler(slave, readHandler, NULL);
    CS104_Slave_setASDUHandler(slave, asduHandler, NULL);

    if (tickMs > 0)
    {
        CS104_Slave_setRawMessageHandler(slave, rawMessageHandler, NULL);
        CS104_Slave_startThreadless(slave);
    }
    else
        CS104_Slave_start(slave);
    int realPort = CS104_Slave_isRunning(slave) ? listening_port() : -1;
    if (realPort < 0)
    {
        Str s = {0};
        str_puts(&s, "{\"event\":\"error\",\"message\":");
        char text[160];
        snprintf(text, sizeof(text), "cannot listen on %s:%ld", host, port);
        str_json_string(&s, text);
        str_puts(&s, "}");
        str_emit(&s);
        CS104_Slave_destroy(slave);
        return 1;
    }

    Str s = {0};
    str_puts(&s, "{\"event\":\"listening\",\"host\":");
    str_json_string(&s, host);
    str_printf(&s,
               ",\"port\":%d,\"ca\":%d,\"singles\":{\"first\":%d,\"count\":%d},\"doubles\":{\"first\":%d,\"count\":%d},"
               "\"floats\":{\"first\":%d,\"count\":%d},\"k\":%ld,\"w\":%ld,\"t1\":%ld,\"t2\":%ld,\"t3\":%ld,\"maxQueue\":%d,"
               "\"sequence\":%s,\"requireSelect\":%s}",
               realPort, ownCA, SINGLE_BASE, kindCount[0], DOUBLE_BASE, kindCount[1], FLOAT_BASE, kindCount[2], k, w, t1,
               t2, t3, maxQueue, useSequence ? "true" : "false", requireSelect ? "true" : "false");
    str_emit(&s);

    LineReader reader = {.len = 0};
    while (!quitRequested)
    {
        bool blocked = drain_outbox();
        burst_tick();
        int timeout = burst.active ? 1 : blocked ? 2 : 200;
        if (tickMs > 0)
        {
            /* Threadless: what was just enqueued leaves now; the master's frames are read at least every tickMs. */
            for (int n = 0; n < 100000; n++)
            {
                unsigned long before = rawMessages;
                CS104_Slave_tick(slave);
                if (rawMessages == before)
                    break;
            }
            if (timeout > tickMs)
                timeout = (int)tickMs;
        }
        struct pollfd pfd[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = wakePipe[0], .events = POLLIN}};
        int r = poll(pfd, 2, timeout);
        if (r <= 0)
            continue;
        if (pfd[1].revents & POLLIN)
        {
            char drainBuf[256];
            while (read(wakePipe[0], drainBuf, sizeof(drainBuf)) > 0)
                ;
        }
        if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
        {
            if (!read_lines(&reader, handle_line))
                break; /* end of stdin: the test is gone */
        }
    }

    if (tickMs > 0)
        CS104_Slave_stopThreadless(slave);
    else
        CS104_Slave_stop(slave);
    CS104_Slave_destroy(slave);
    return 0;
}
