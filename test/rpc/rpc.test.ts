import fs from "node:fs/promises";
import {afterAll, beforeAll, describe, expect, it, vi} from "vitest";
import {LlamaLogLevel, type Llama, type LlamaModel, type Token} from "node-llama-cpp";
import {runGenerationBench} from "../../src/bench/generation.js";
import {parseModes} from "../../src/bench/options.js";
import {validateBenchResult} from "../../src/bench/report.js";
import {decodeLogits, maxRelativeDifference} from "../../src/eval/logits.js";
import {getSparqRpcLlama, loadModelOverRpc, startRpcServer, type RpcServer} from "../../src/rpc.js";
import {createSparqContext, getSparq} from "../../src/sparq/context.js";
import type {SparqSettings} from "../../src/sparq/settings.js";
import {gutenberg, wikitext} from "../helpers.js";

/**
 * The Gutenberg model (8 layers, d = 128) split by layers over two patched rpc-server processes on
 * loopback, against the same model in this process: same greedy tokens and next-token logits, dense
 * and with SparQ; and a stock rpc-server refused by the protocol version.
 */
describe("SparQ over ggml RPC (two rpc-server processes on loopback)", () => {
    const servers: RpcServer[] = [];
    const stopServers = () => Promise.all(servers.map((server) => server.stop()));
    let llama: Llama;
    let local: LlamaModel;
    let remote: LlamaModel;
    let tokens: Token[];
    const logs: string[] = [];

    beforeAll(async () => {
        // the RPC build and both rpc-servers come from the global setup (test/setup/build.ts)
        llama = await getSparqRpcLlama({
            build: "never",
            logLevel: LlamaLogLevel.info,
            logger: (_level, message) => { logs.push(message); }
        });
        for (let i = 0; i < 2; i++)
            servers.push(await startRpcServer({threads: 1}));
        local = await llama.loadModel({modelPath: gutenberg});
        remote = await loadModelOverRpc(llama, {modelPath: gutenberg, servers, tensorSplit: [1, 1]});
        tokens = remote.tokenize((await fs.readFile(wikitext, "utf8")).slice(0, 8000));
    }, 5 * 60_000);

    afterAll(async () => {
        await remote?.dispose();
        await local?.dispose();
        await stopServers();
        await llama?.dispose();
    });

    async function run(model: LlamaModel, sparq: SparqSettings | false, prefill: number, steps: number) {
        const context = await createSparqContext(model, {contextSize: 1024, sparq, threads: 2});
        try {
            const logits = await decodeLogits(context, tokens.slice(0, prefill + steps), prefill);
            // greedy continuation of the prompt
            const sequence = context.getSequence();
            const greedy: Token[] = [];
            try {
                for await (const token of sequence.evaluate(tokens.slice(0, prefill), {temperature: 0})) {
                    greedy.push(token);
                    if (greedy.length >= 16)
                        break;
                }
            } finally {
                sequence.dispose();
            }
            return {logits, greedy, opCounts: getSparq(context).layers.map((layer) => layer.opCount)};
        } finally {
            await context.dispose();
        }
    }

    it("puts the layers and their KV cache on both servers", async () => {
        const context = await remote.createContext({contextSize: 256, flashAttention: true, threads: 2});
        await context.dispose();
        const text = logs.join("");
        for (const server of servers) {
            expect(text).toContain(`${server.endpoint}`);
            // model weights and KV cache in each server's buffers
            expect(text).toMatch(new RegExp(`RPC\\d+\\[${server.endpoint.replace(/\./g, "\\.")}\\] model buffer size`));
        }
        expect(text).toMatch(/offloaded 9\/9 layers/);
    });

    it("gives the single-process greedy tokens and logits, dense", async () => {
        const [a, b] = [await run(local, false, 64, 24), await run(remote, false, 64, 24)];
        const rel = Math.max(...b.logits.map((l, i) => maxRelativeDifference(a.logits[i]!, l)));
        console.log(`dense, RPC vs local: max relative logit difference ${rel.toExponential(2)}; greedy ${JSON.stringify(remote.detokenize(b.greedy))}`);
        expect(b.greedy).toEqual(a.greedy);
        expect(rel).toBeLessThan(1e-3);
        expect(b.opCounts.every((count) => count === 0)).toBe(true);
    });

    it("gives the single-process greedy tokens and logits with SparQ, the op running on the servers", async () => {
        const sparq: SparqSettings = {ratio: 8};
        const prefill = 512;
        const steps = 24;
        const [a, b] = [await run(local, sparq, prefill, steps), await run(remote, sparq, prefill, steps)];
        const dense = await run(remote, false, prefill, steps);
        const rel = Math.max(...b.logits.map((l, i) => maxRelativeDifference(a.logits[i]!, l)));
        const fromDense = Math.max(...b.logits.slice(1).map((l, i) => maxRelativeDifference(dense.logits[i + 1]!, l)));
        console.log(`SparQ 8x, RPC vs local: max relative logit difference ${rel.toExponential(2)} ` +
            `(vs dense over RPC: ${fromDense.toExponential(2)}); op counts ${JSON.stringify(b.opCounts)}`);
        // every layer ran SparQ in every decode step (the prefill is dense), as many times as in one process
        expect(b.opCounts.every((count) => count >= steps)).toBe(true);
        expect(b.opCounts).toEqual(a.opCounts);
        expect(b.greedy).toEqual(a.greedy);
        expect(rel).toBeLessThan(1e-3);
        expect(fromDense).toBeGreaterThan(10 * rel); // SparQ really changed the result: the op ran, not dense attention
    });

    it("schedules every layer's SparQ op onto the server holding that layer", async () => {
        // ggml's scheduler prints each graph split's backend and nodes at debug level (read when a context is created)
        process.env.GGML_SCHED_DEBUG = "2";
        llama.logLevel = LlamaLogLevel.debug;
        const context = await createSparqContext(remote, {contextSize: 512, sparq: {ratio: 8}, threads: 2});
        let devices: Array<string | undefined> = [];
        try {
            devices = getSparq(context).layers.map((layer) => layer.device);
            const sequence = context.getSequence();
            await sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(0, 300));
            logs.length = 0;
            await sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(300, 301)); // one decode step
            await vi.waitFor(() => expect(logs.join("")).toMatch(/sparq_attn-7/), {timeout: 5000});
        } finally {
            delete process.env.GGML_SCHED_DEBUG;
            llama.logLevel = LlamaLogLevel.info;
            await context.dispose();
        }
        const where = new Map<number, string>(); // layer -> backend of the split running its SparQ op
        for (const split of logs.join("").split("## SPLIT #").slice(1)) {
            const backend = /^\d+: (\S+)/.exec(split)?.[1] ?? "?";
            for (const match of split.matchAll(/\(SPARQ_ATTN\):\s+sparq_attn-(\d+)/g))
                where.set(Number(match[1]), backend);
        }
        console.log(`SparQ op placement: ${JSON.stringify(Object.fromEntries(where))}`);
        expect([...where.keys()].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
        const backends = new Set(where.values());
        expect([...backends].sort()).toEqual(servers.map((server) => `RPC0[${server.endpoint}]`).sort());
        // getSparq names each layer's device as llama.cpp does ("RPC0", "RPC1": one per server), and
        // the layers it puts on one device are those the scheduler ran on one server
        expect(devices.every((device) => /^RPC\d+$/.test(device ?? ""))).toBe(true);
        const pairs = new Set(devices.map((device, layer) => `${device} ${where.get(layer)}`));
        expect([new Set(devices).size, pairs.size]).toEqual([2, 2]);
    });

    it("benchmarks dense against SparQ with the layers on the servers (sparq bench --rpc)", async () => {
        const both = servers.slice(0, 2);
        const result = validateBenchResult(await runGenerationBench({
            llama, modelPath: gutenberg, contexts: [256], modes: parseModes("dense,sparq:4", "--modes"), tokens: 4, repeat: 1,
            threads: 2, loadModel: (options) => loadModelOverRpc(llama, {...options, servers: both}), placement: "rpc, 2 servers"
        }));
        expect(result.system.backend).toBe("rpc, 2 servers");
        const sparq = result.results.find((row) => row.mode === "sparq:4")!;
        expect(sparq.sparqOps!.layers.map((layer) => layer.opCount)).toEqual(new Array(8).fill(4));
        expect(logs.join("")).toMatch(/offloaded 9\/9 layers/);
    });

    it("refuses a stock rpc-server by the protocol version, with a clear error", async () => {
        const stock = await startRpcServer({variant: "stock", threads: 1});
        servers.push(stock);
        await expect(loadModelOverRpc(llama, {modelPath: gutenberg, servers: [servers[0]!, stock]}))
            .rejects.toThrow(/RPC server version mismatch: 127\.0\.0\.1:\d+ speaks protocol 7\.0\.0, this client speaks 107\.0\.0 \(it is a stock llama\.cpp rpc-server/);
        // llama.cpp's log of it (logs from the load's thread reach JS asynchronously)
        await vi.waitFor(() => expect(logs.join("")).toMatch(/RPC server version mismatch: 127\.0\.0\.1:\d+ speaks protocol 7\.0\.0/), {timeout: 5000});
        // the process is still healthy: loading over the patched servers works after the refusal
        const again = await loadModelOverRpc(llama, {modelPath: gutenberg, servers: servers.slice(0, 2)});
        await again.dispose();
        await stock.stop();
    });

    it("fails cleanly when nothing listens at a server's address", async () => {
        const gone = await startRpcServer({threads: 1});
        await gone.stop();
        await expect(loadModelOverRpc(llama, {modelPath: gutenberg, servers: [gone]}))
            .rejects.toThrow(/cannot connect to RPC server 127\.0\.0\.1:\d+/);
    });
});
