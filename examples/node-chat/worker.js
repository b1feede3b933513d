// worker.js — a chat-style worker for memfence's end-to-end story: a night of growth in a minute.
//
// Each session keeps per-session state the way chat backends do: a context buffer (a Buffer,
// outside V8's heap, allocated with malloc), the message history (strings) and a Map of
// metadata.  Sessions arrive faster than they idle out: a session is active for a few seconds
// and then sits idle until SESSION_IDLE_OUT_S (longer than the run), so memory grows all night.
//
// SIGUSR2 is the "shed load" request (memfence's `signal:SIGUSR2` action at HIGH): the worker
// drops the sessions idle for more than DROP_IDLE_MS, asks V8 for a collection so their buffers
// go back to malloc, and keeps serving.  A session that cannot get its buffer (memfence refusing
// large allocations at CRITICAL: "Array buffer allocation failed") is turned away politely.
//
// Environment (all optional):
//   CHAT_SECONDS         how long to run (default 40)
//   CHAT_RATE            new sessions per second (default 12)
//   CHAT_CONTEXT_KB      context buffer per session, KiB (default 1024)
//   CHAT_ACTIVE_MS       how long a session keeps talking (default 2000)
//   CHAT_IDLE_OUT_S      idle sessions are closed after this (default 600: longer than the run)
//   CHAT_DROP_IDLE_MS    SIGUSR2 drops sessions idle longer than this (default 1000)
//   CHAT_IGNORE_SIGNAL=1 no SIGUSR2 handler (the worker as it is written today)
// Prints one status line a second ("t=... sessions=... rss=...") and a summary at the end;
// exits 0 after CHAT_SECONDS.  Run with --expose-gc so the handler can collect at once.
'use strict';

const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' ? Number(process.env[k]) : d);
const SECONDS = env('CHAT_SECONDS', 40);
const RATE = env('CHAT_RATE', 12);
const CONTEXT = env('CHAT_CONTEXT_KB', 1024) * 1024;
const ACTIVE_MS = env('CHAT_ACTIVE_MS', 2000);
const IDLE_OUT_MS = env('CHAT_IDLE_OUT_S', 600) * 1000;
const DROP_IDLE_MS = env('CHAT_DROP_IDLE_MS', 1000);

const sessions = new Map();
let nextId = 1;
let served = 0, turnedAway = 0, signals = 0, dropped = 0, peakSessions = 0, peakRss = 0;
const t0 = Date.now();
const MIB = 1024 * 1024;

function openSession(now) {
    let context;
    try {
        context = Buffer.alloc(CONTEXT, 0x20);    // the conversation's working context
    } catch (e) {
        turnedAway++;                              // refused: tell the client to come back later
        return;
    }
    const id = nextId++;
    sessions.set(id, { id, context, history: [], meta: new Map([['opened', now], ['lang', 'en']]),
                       started: now, lastSeen: now });
}

function reply(s, now) {
    const msg = `user ${s.id} says hello #${s.history.length} at ${now}`;
    const answer = msg.split(' ').reverse().join(' ') + ' '.repeat(64);
    s.history.push(msg, answer);
    s.context.write(answer, (s.history.length * 97) % (s.context.length - answer.length));
    s.meta.set('turns', s.history.length >> 1);
    s.lastSeen = now;
    served++;
}

function dropIdle(reason) {
    const now = Date.now();
    let n = 0;
    for (const [id, s] of sessions)
        if (now - s.lastSeen > DROP_IDLE_MS) { sessions.delete(id); n++; }
    dropped += n;
    if (global.gc) global.gc();
    const rss = process.memoryUsage.rss();
    console.log(`t=${((now - t0) / 1000).toFixed(1)} ${reason}: dropped ${n} idle sessions, ` +
                `kept ${sessions.size}, rss=${(rss / MIB).toFixed(1)}MiB`);
}

if (process.env.CHAT_IGNORE_SIGNAL !== '1')
    process.on('SIGUSR2', () => { signals++; dropIdle('SIGUSR2'); });

let carry = 0;
const tick = setInterval(() => {
    const now = Date.now();
    carry += RATE / 50;                            // 20 ms ticks
    for (; carry >= 1; carry--) openSession(now);
    for (const [id, s] of sessions) {
        if (now - s.started < ACTIVE_MS) reply(s, now);
        else if (now - s.lastSeen > IDLE_OUT_MS) sessions.delete(id);
    }
    if (sessions.size > peakSessions) peakSessions = sessions.size;
}, 20);

const status = setInterval(() => {
    const m = process.memoryUsage();
    if (m.rss > peakRss) peakRss = m.rss;
    console.log(`t=${((Date.now() - t0) / 1000).toFixed(1)} sessions=${sessions.size} served=${served} ` +
                `rss=${(m.rss / MIB).toFixed(1)}MiB heap=${(m.heapUsed / MIB).toFixed(1)}MiB ` +
                `external=${(m.external / MIB).toFixed(1)}MiB turned_away=${turnedAway}`);
}, 1000);

setTimeout(() => {
    clearInterval(tick);
    clearInterval(status);
    console.log(`summary: ran ${SECONDS}s served=${served} sessions_opened=${nextId - 1} ` +
                `peak_sessions=${peakSessions} signals=${signals} dropped=${dropped} ` +
                `turned_away=${turnedAway} peak_rss=${(peakRss / MIB).toFixed(1)}MiB`);
    process.exit(0);
}, SECONDS * 1000);
