// Loads a GGUF model with node-llama-cpp (llama.cpp's prebuilt CPU build, the engine inside
// ollama), creates a context, generates tokens greedily and prints what happened, so a test can
// tell the three endings apart: generated (exit 0), a clean error from node-llama-cpp or
// llama.cpp (an exception caught here, exit 11-13 by stage), or a crash (a signal or an abort:
// the shell sees 128 + the signal).
//
//   node examples/llama/generate.mjs MODEL.gguf [--context N|auto] [--tokens N]
//        [--prompt TEXT] [--threads N] [--mmap on|off] [--hold S]
//        [--checks on|off]
//   node examples/llama/generate.mjs --check   (is the prebuilt CPU build there and usable?)
//
// --checks off skips node-llama-cpp's own "will this context fit in free RAM" estimate
// (ignoreMemorySafetyChecks), so llama.cpp itself allocates the KV cache and meets the budget.
// --hold S keeps the model and its context loaded S seconds after generating (for
// `memfence report PID`).
// Output, one fact a line:
//   context: N (asked auto|N)
//   tokens: 17 204 ...            (the generated token ids)
//   text: ...                     (their text, JSON-quoted)
//   generated N tokens
// or, at a clean error:
//   error (load|context|generate): MESSAGE
// Exit codes: 0 generated, 2 usage, 11 loading the model failed, 12 creating the context
// failed, 13 generation failed.
//
// node-llama-cpp is found next to this file (examples/llama/node_modules, installed by
// scripts/setup with no build and no download at run time), or in $MEMFENCE_LLAMA_DIR.
import { pathToFileURL } from "node:url";
import path from "node:path";
import fs from "node:fs";

const here = path.dirname(new URL(import.meta.url).pathname);
const args = process.argv.slice(2);
const opt = { context: "auto", tokens: 8, prompt: "the quick brown fox", threads: 2, mmap: "on",
              hold: 0, checks: "on" };
let model = null, check = false;
for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--check") { check = true; continue; }
    if (a.startsWith("--") && i + 1 < args.length && a.slice(2) in opt) opt[a.slice(2)] = args[++i];
    else if (!a.startsWith("--") && model == null) model = a;
    else {
        console.error("usage: generate.mjs MODEL.gguf [--context N|auto] [--tokens N]" +
                      " [--prompt TEXT] [--threads N] [--mmap on|off] [--hold S]" +
                      " [--checks on|off] | --check");
        process.exit(2);
    }
}
if (model == null && !check) { console.error("generate.mjs: no model given"); process.exit(2); }

const dir = process.env.MEMFENCE_LLAMA_DIR || here;
const entry = path.join(dir, "node_modules", "node-llama-cpp", "dist", "index.js");
if (!fs.existsSync(entry)) {
    console.error(`generate.mjs: node-llama-cpp is not installed in ${dir} (run scripts/setup)`);
    process.exit(2);
}
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(entry).href);

let stage = "load";
async function fail(err) {
    const msg = (err && err.message ? err.message : String(err)).split("\n")[0];
    // llama.cpp's own log lines reach the logger asynchronously: let them arrive first.
    await new Promise((r) => setTimeout(r, 200));
    console.log(`error (${stage}): ${msg}`);
    process.exit({ load: 11, context: 12, generate: 13 }[stage]);
}

try {
    // The prebuilt CPU binary only: never build llama.cpp, never download anything.
    const llama = await getLlama({
        gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
        progressLogs: false, logLevel: LlamaLogLevel.error, maxThreads: Number(opt.threads),
        logger: (level, message) => fs.writeSync(2, `[llama.cpp] ${message.trimEnd()}\n`),
    });
    if (check) {
        if (llama.gpu !== false || llama.buildType !== "prebuilt")
            throw new Error(`not the prebuilt CPU build (gpu ${llama.gpu}, ` +
                            `build ${llama.buildType})`);
        const pkg = path.join(dir, "node_modules", "node-llama-cpp", "package.json");
        const v = JSON.parse(fs.readFileSync(pkg)).version;
        console.log(`node-llama-cpp ${v}: prebuilt CPU build of llama.cpp, ` +
                    `${llama.cpuMathCores} cores`);
        process.exit(0);
    }
    const m = await llama.loadModel({ modelPath: model, gpuLayers: 0,
                                      useMmap: opt.mmap !== "off" });
    stage = "context";
    const asked = opt.context === "auto" ? "auto" : Number(opt.context);
    const ctx = await m.createContext({ contextSize: asked, threads: Number(opt.threads),
                                        ignoreMemorySafetyChecks: opt.checks === "off" });
    console.log(`context: ${ctx.contextSize} (asked ${asked})`);
    stage = "generate";
    const seq = ctx.getSequence();
    const input = m.tokenize(opt.prompt);
    const out = [];
    const want = Number(opt.tokens);
    if (want > 0) {
        // Greedy (temperature 0): the same model and prompt give the same tokens every run.
        for await (const t of seq.evaluate(input, { temperature: 0 })) {
            out.push(t);
            if (out.length >= want) break;
        }
    }
    console.log(`tokens: ${out.join(" ")}`);
    console.log(`text: ${JSON.stringify(m.detokenize(out))}`);
    console.log(`generated ${out.length} tokens`);
    if (Number(opt.hold) > 0) {
        // Keep the model and context alive a while, so `memfence report PID` sees them.
        console.log(`holding ${opt.hold} s (pid ${process.pid})`);
        await new Promise((r) => setTimeout(r, Number(opt.hold) * 1000));
    }
    await ctx.dispose();
    await m.dispose();
    await llama.dispose();
    process.exit(0);
} catch (err) {
    await fail(err);
}
