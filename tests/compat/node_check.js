// node_check.js — the compatibility sweep's node program: worker threads, streams, zlib and
// child processes, each checked against a value computed another way.  Prints one line per
// check ("name ok detail" or "name FAIL detail"); exits 0 only when every check passed.  The
// output is deterministic, so a run with memfence and one without must print the same lines.
'use strict';
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
const zlib = require('zlib');
const crypto = require('crypto');
const { Readable, Transform, pipeline } = require('stream');
const { execFileSync, spawn } = require('child_process');

if (!isMainThread) {
    // a worker: sum of squares over its range, plus a buffer it fills and hashes
    const { from, to } = workerData;
    let s = 0n;
    for (let i = from; i < to; i++) s += BigInt(i) * BigInt(i);
    const b = Buffer.alloc(1 << 20);
    for (let i = 0; i < b.length; i++) b[i] = (i * 7 + from) & 0xff;
    parentPort.postMessage({ s: s.toString(), h: crypto.createHash('sha256').update(b).digest('hex') });
    return;
}

let failed = 0;
const out = (name, ok, detail) => { if (!ok) failed++; console.log(`${name} ${ok ? 'ok' : 'FAIL'} ${detail}`); };
const sha = (x) => crypto.createHash('sha256').update(x).digest('hex').slice(0, 16);

function data(n) {
    const b = Buffer.alloc(n);
    let x = 12345;
    for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) & 0x7fffffff; b[i] = (x >> 16) % 64 + 32; }
    return b;
}

async function workers() {
    const N = 4, span = 200000;
    const res = await Promise.all([...Array(N).keys()].map((k) => new Promise((resolve, reject) => {
        const w = new Worker(__filename, { workerData: { from: k * span, to: (k + 1) * span } });
        w.once('message', resolve);
        w.once('error', reject);
    })));
    let total = 0n;
    for (const r of res) total += BigInt(r.s);
    const n = BigInt(N * span) - 1n;
    const expect = n * (n + 1n) * (2n * n + 1n) / 6n;
    out('worker_threads', total === expect, `sum=${total} hashes=${res.map((r) => r.h.slice(0, 8)).join(',')}`);
}

async function zlibs() {
    const input = data(4 << 20);
    const gz = zlib.gzipSync(input, { level: 6 });
    const back = zlib.gunzipSync(gz);
    out('zlib_sync', back.equals(input), `in=${input.length} gz=${gz.length} sha=${sha(back)}`);
    const br = zlib.brotliCompressSync(input.subarray(0, 1 << 20));
    out('brotli', zlib.brotliDecompressSync(br).equals(input.subarray(0, 1 << 20)), `br=${br.length}`);
    const defl = await new Promise((res, rej) => zlib.deflate(input, (e, r) => (e ? rej(e) : res(r))));
    const infl = await new Promise((res, rej) => zlib.inflate(defl, (e, r) => (e ? rej(e) : res(r))));
    out('zlib_async', infl.equals(input), `deflate=${defl.length}`);
}

async function streams() {
    const input = data(2 << 20);
    const chunks = [];
    for (let i = 0; i < input.length; i += 65536) chunks.push(input.subarray(i, i + 65536));
    const upper = new Transform({ transform(c, e, cb) { cb(null, Buffer.from(c.toString('latin1').toUpperCase(), 'latin1')); } });
    const gz = zlib.createGzip();
    const gunz = zlib.createGunzip();
    const got = [];
    await new Promise((res, rej) => pipeline(Readable.from(chunks), upper, gz, gunz,
        new Transform({ transform(c, e, cb) { got.push(c); cb(); } }), (e) => (e ? rej(e) : res())));
    const result = Buffer.concat(got);
    const expect = Buffer.from(input.toString('latin1').toUpperCase(), 'latin1');
    out('streams_pipeline', result.equals(expect), `bytes=${result.length} sha=${sha(result)}`);
}

async function children() {
    const v = execFileSync(process.execPath, ['-e', 'console.log(6 * 7)']).toString().trim();
    out('child_execFileSync', v === '42', `got=${v}`);
    const sh = execFileSync('sh', ['-c', 'echo hello; seq 1 1000 | sort -n | tail -n 1']).toString();
    out('child_shell', sh === 'hello\n1000\n', JSON.stringify(sh));
    // a child fed 1 MiB through stdin that hashes it
    const input = data(1 << 20);
    const h = await new Promise((res, rej) => {
        const c = spawn(process.execPath, ['-e',
            "const h=require('crypto').createHash('sha256');process.stdin.on('data',d=>h.update(d));process.stdin.on('end',()=>process.stdout.write(h.digest('hex').slice(0,16)))"]);
        let o = '';
        c.stdout.on('data', (d) => (o += d));
        c.on('error', rej);
        c.on('close', (code) => (code === 0 ? res(o) : rej(new Error(`child exit ${code}`))));
        c.stdin.end(input);
    });
    out('child_spawn_stdin', h === sha(input), `sha=${h}`);
}

(async () => {
    for (const f of [workers, zlibs, streams, children]) {
        try { await f(); } catch (e) { out(f.name, false, `threw ${e && e.message}`); }
    }
    const big = [];
    for (let i = 0; i < 200; i++) big.push('x'.repeat(10000) + i);
    out('v8_heap', big.join('').length === 200 * 10000 + 490, `strings=${big.length}`);
    console.log(failed ? `node_check: ${failed} FAILED` : 'node_check: all passed');
    process.exitCode = failed ? 1 : 0;
})();
