// grow.js MODE — the node workload of bench/b-70-survival.sh.
//   buffers [SIZE]  Buffers of SIZE bytes (1 MiB) outside the JS heap; a refusal is a RangeError
//            the script catches, drops half and carries on (prints SURVIVED)
//   objects  small objects on the JS heap: ends at V8's heap limit ("JavaScript heap out of
//            memory", V8's documented end) unless the budget comes first
//   strings  1 KiB strings on the JS heap: the same
const mode = process.argv[2];
const a = [];
if (mode === 'buffers') {
    try {
        const size = +(process.argv[3] || (1 << 20));
        for (;;) a.push(Buffer.alloc(size));
    } catch (e) {
        const n = a.length;
        a.length = n >> 1;
        const m = new Map();
        for (let i = 0; i < 20000; i++) m.set(i, 'v' + i);
        console.log(`SURVIVED after ${n} buffers (${e.name}: ${e.message}), map ${m.size}`);
    }
} else if (mode === 'objects') {
    for (let i = 0; ; i++) a.push({ i, s: 'x' + i });
} else {
    const base = 'y'.repeat(1000);
    for (let i = 0; ; i++) a.push(base + i);
}
