// The SparQ op alone vs dense flash attention, same build, same data, same threads (native harness:
// tests/bench-sparq-attn.cpp of the patch series). Prints one table and records it in bench/results/.
//   npm run bench -- [--threads 2] [--S 1024,2048,...] [--modes dense,sparq8,sparq4,sparq8-noKt]
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {buildNativeTools, runNativeTool} from "../src/build/native.js";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && args[i + 1] != null ? args[i + 1]! : fallback;
};
const threads = flag("threads", "2");
const sizes = flag("S", "1024,2048,4096,8192,16384,32768");
const modes = flag("modes", "dense,sparq8,sparq4,sparq8-noKt");

const binDir = await buildNativeTools("host");
const loadBefore = os.loadavg()[0]!.toFixed(2);
const started = new Date();
const output = await runNativeTool(binDir, "bench-sparq-attn", ["--threads", threads, "--S", sizes, "--modes", modes, "--min-ms", "600"]);
const loadAfter = os.loadavg()[0]!.toFixed(2);

const rows = output.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Record<string, number | string>);
const table = output.slice(output.indexOf("\nd = ") + 1).trim();
const header = [
    `# SparQ op vs dense flash attention (CPU)`,
    ``,
    `${started.toISOString()}, ${os.cpus()[0]?.model ?? "unknown CPU"} (${os.cpus().length} cores), ${threads} threads, ` +
        `load average ${loadBefore} before, ${loadAfter} after. Command: \`npm run bench -- --threads ${threads}\``,
    ``
].join("\n");
console.log(`${header}\n${table}`);

const resultsDir = path.join(import.meta.dirname, "results");
await fs.mkdir(resultsDir, {recursive: true});
const name = `cpu-op-${threads}t`;
await fs.writeFile(path.join(resultsDir, `${name}.md`), `${header}\n${table}\n`);
await fs.writeFile(path.join(resultsDir, `${name}.json`), JSON.stringify({
    date: started.toISOString(), cpu: os.cpus()[0]?.model, threads: Number(threads), loadBefore: Number(loadBefore), loadAfter: Number(loadAfter), rows
}, null, 2) + "\n");
