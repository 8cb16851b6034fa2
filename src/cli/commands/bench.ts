import path from "node:path";
import type {CommandModule} from "yargs";
import {checkBenchPlan, readBenchModelInfo, runGenerationBench, settleSteps} from "../../bench/generation.js";
import {parseModes, parsePositiveIntegerList, parseTokenCount, parseTokenCountList} from "../../bench/options.js";
import {formatBenchTable, writeBenchReport} from "../../bench/report.js";
import {parseGpuBackend} from "../../build/toolchain.js";
import type {LlamaModel, LlamaModelOptions} from "node-llama-cpp";
import {getSparqLlama} from "../../load.js";
import {loadModelWithSplit, resolveGpuSplit, splitOverFirstGpus} from "../../models/split.js";
import {getSparqRpcLlama, loadModelOverRpc, parseRpcEndpoints} from "../../rpc.js";
import {chooseModel, defaultModelUri, resolveModel} from "../../models/resolve.js";
import {denseBelowDefaultHelp} from "../options.js";
import {createBuildProgressPrinter} from "../progress.js";

type BenchArgs = {
    model?: string, ctx: string, modes: string, layers?: string, batch: string, repeat: number, tg: number,
    warmup: number, threads?: number, gpu: string, gpus?: number, rpc?: string, denseBelow?: string, seed: number, out?: string
};

const minDepth = 16;

export const benchCommand: CommandModule<object, BenchArgs> = {
    command: "bench",
    describe: "Generation speed at several context depths, dense against SparQ modes, with the bandwidth-bound ideal; writes bench.json, bench.md and bench.svg",
    builder: (yargs) => yargs
        .option("model", {alias: "m", type: "string", describe: `GGUF path or hf: URI (else SPARQ_MODEL, else ${defaultModelUri})`})
        .option("ctx", {type: "string", default: "1k,4k", describe: "Context depths: tokens in the cache when generation starts (k = 1024); depth + --tg must fit the model's training context"})
        .option("modes", {type: "string", default: "dense,sparq:8,sparq:4", describe: "dense, sparq:RATIO (r = d/RATIO, k = max(32, S/(2 RATIO))) or sparq:R,K (absolute)"})
        .option("layers", {type: "string", describe: "Layers SparQ modes use, e.g. 2- (default all)"})
        .option("dense-below", {
            type: "string",
            describe: `SparQ modes run dense attention at KV lengths below this, e.g. 0 or 32k (the denseBelow setting; ${denseBelowDefaultHelp})`
        })
        .option("batch", {type: "string", default: "1", describe: "Sequences decoded together, one decode of all of them per step, e.g. 1,8: one run per value, each sequence holding the depth (one folder per value under --out when several)"})
        .option("repeat", {type: "number", default: 3, describe: "Rounds over all modes (mode order rotated each round)"})
        .option("tg", {type: "number", default: 32, describe: `Tokens generated per timed run (each run first decodes ${settleSteps} untimed tokens in its mode, so that the timed steps run in steady state)`})
        .option("warmup", {type: "number", default: 2, describe: "Untimed tokens per mode and depth before the rounds"})
        .option("threads", {type: "number", describe: "CPU threads (default: all math cores)"})
        .option("gpu", {type: "string", default: "cpu", describe: "Backend: cpu or cuda"})
        .option("gpus", {type: "number", describe: "With --gpu cuda: run on the first N GPUs (1: GPU 0 alone; more: whole layers split evenly)"})
        .option("rpc", {type: "string", describe: "Run the model's layers on these patched rpc-servers, split by layers: host:port,host:port"})
        .option("seed", {type: "number", default: 0, describe: "Seed of the token stream the cache is filled with"})
        .option("out", {type: "string", describe: "Output folder (default bench/results/<date>-<model>)"})
        .check((args) => {
            parseTokenCountList(args.ctx, "--ctx", minDepth);
            parseModes(args.modes, "--modes", args.layers);
            if (args.denseBelow != null)
                parseTokenCount(String(args.denseBelow), "--dense-below", 0);
            parsePositiveIntegerList(args.batch, "--batch");
            if (!Number.isInteger(args.repeat) || args.repeat < 1)
                throw new Error(`--repeat must be an integer >= 1, got ${args.repeat}`);
            if (!Number.isInteger(args.tg) || args.tg < 1)
                throw new Error(`--tg must be an integer >= 1, got ${args.tg}`);
            if (!Number.isInteger(args.warmup) || args.warmup < 0)
                throw new Error(`--warmup must be an integer >= 0, got ${args.warmup}`);
            if (args.threads != null && (!Number.isInteger(args.threads) || args.threads < 1))
                throw new Error(`--threads must be a positive integer, got ${args.threads}`);
            if (!Number.isSafeInteger(args.seed) || args.seed < 0)
                throw new Error(`--seed must be an integer >= 0, got ${args.seed}`);
            parseGpuBackend(args.gpu);
            if (args.gpus != null && (!Number.isInteger(args.gpus) || args.gpus < 1))
                throw new Error(`--gpus must be an integer >= 1, got ${args.gpus}`);
            if (args.gpus != null && parseGpuBackend(args.gpu) === false)
                throw new Error("--gpus needs --gpu cuda");
            if (args.gpus != null && args.rpc != null)
                throw new Error("give --gpus or --rpc, not both");
            if (args.rpc != null)
                parseRpcEndpoints(args.rpc);
            return true;
        })
        .example("$0 bench -m model.gguf --ctx 1k,4k,16k --modes dense,sparq:8,sparq:4", "CPU, 3 rounds of 32 tokens per depth and mode")
        .example("$0 bench -m model.gguf --modes dense,sparq:16,256 --layers 2- --repeat 5 --threads 8", "absolute r = 16, k = 256, first two layers dense")
        .example("$0 bench -m model.gguf --gpu cuda --gpus 2 --ctx 32k,128k --batch 1,8", "the same table over 2 GPUs (layer split)")
        .example("$0 bench -m model.gguf --rpc 127.0.0.1:50052,127.0.0.1:50053", "layers split over two rpc-servers (sparq build --rpc)")
        .example("$0 models synth --arch llama3-8b --type q8_0 --out /tmp/l3.gguf && $0 bench -m /tmp/l3.gguf --ctx 4k,16k,32k", "a random-weight model of a real shape"),
    handler: async (args) => {
        const contexts = parseTokenCountList(args.ctx, "--ctx", minDepth);
        const denseBelow = args.denseBelow == null ? undefined : parseTokenCount(args.denseBelow, "--dense-below", 0);
        const modes = parseModes(args.modes, "--modes", args.layers)
            .map((mode) => (mode.sparq === false || denseBelow === undefined ? mode : {...mode, sparq: {...mode.sparq, denseBelow}}));
        const batches = parsePositiveIntegerList(args.batch, "--batch");
        const gpu = parseGpuBackend(args.gpu);
        const modelPath = await resolveModel(chooseModel(args.model));
        // fail on depths and modes the model can't take before loading anything
        checkBenchPlan(await readBenchModelInfo(modelPath), {contexts, modes, tokens: args.tg});

        const progress = (line: string) => process.stderr.write(`sparq bench: ${line}\n`);
        const servers = args.rpc == null ? null : parseRpcEndpoints(args.rpc);
        const llamaOptions = {gpu, maxThreads: 0, onBuildProgress: createBuildProgressPrinter()};
        const llama = servers == null ? await getSparqLlama(llamaOptions) : await getSparqRpcLlama(llamaOptions);
        try {
            let loadModel: ((options: LlamaModelOptions) => Promise<LlamaModel>) | undefined;
            let placement: string | undefined;
            if (servers != null) {
                loadModel = (options) => loadModelOverRpc(llama, {...options, servers});
                placement = `rpc, ${servers.length} server${servers.length === 1 ? "" : "s"}`;
            } else if (args.gpus != null) {
                const split = splitOverFirstGpus(args.gpus);
                resolveGpuSplit(split, await llama.getGpuDeviceNames()); // names the GPUs missing before any load
                loadModel = (options) => loadModelWithSplit(llama, {...options, split});
                placement = `${llama.gpu}, ${args.gpus} GPU${args.gpus === 1 ? "" : "s"}`;
            }
            for (const batch of batches) {
                const result = await runGenerationBench({
                    llama, modelPath, contexts, modes, tokens: args.tg, repeat: args.repeat, threads: args.threads, batch,
                    warmupTokens: args.warmup, seed: args.seed, layers: args.layers, loadModel, placement,
                    onProgress: batches.length === 1 ? progress : (line) => progress(`batch ${batch}: ${line}`)
                });
                const base = args.out ?? path.join("bench", "results", `${result.createdAt.slice(0, 10)}-${result.model.name}`);
                const files = await writeBenchReport(result, batches.length === 1 ? base : path.join(base, `batch-${batch}`));
                if (batches.length > 1)
                    console.log(`batch ${batch}:`);
                console.log(formatBenchTable(result));
                progress(`wrote ${files.json}, ${files.markdown}, ${files.spec}${files.svg == null ? "" : `, ${files.svg}`}`);
                if (files.svg == null)
                    progress("bench.svg not written: the plotting libraries are missing (npm install vega@6.4.0 vega-lite@6.4.3); bench.vl.json holds the plot's Vega-Lite spec");
            }
        } finally {
            await llama.dispose();
        }
    }
};
