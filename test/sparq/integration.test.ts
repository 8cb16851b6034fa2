import fs from "node:fs/promises";
import {afterAll, beforeAll, describe, expect, it} from "vitest";
import type {Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token} from "node-llama-cpp";
import {decodeLogits, klDivergence, maxRelativeDifference} from "../../src/eval/logits.js";
import {getSparqLlama} from "../../src/load.js";
import {createSparqContext, getSparq, getSparqBackend, setSparq} from "../../src/sparq/context.js";
import {SparqSettingsError, type SparqSettings} from "../../src/sparq/settings.js";
import {gutenberg, wikitext} from "../helpers.js";

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/** Decodes one token: the next-token logits, by token id. */
async function stepLogits(sequence: LlamaContextSequence, token: Token): Promise<Float32Array> {
    const [result] = await sequence.controlledEvaluate([[token, {generateNext: {logits: true}}]]);
    return Float32Array.from([...result!.next.logits!.entries()].sort((a, b) => a[0] - b[0]).map(([, logit]) => logit));
}

/** Decodes `input` one token per step, then reads each layer's SparQ op count. */
async function opCountsAfter(context: LlamaContext, sequence: LlamaContextSequence, input: readonly Token[]): Promise<number[]> {
    await stepsLogits(sequence, input);
    return getSparq(context).layers.map((layer) => layer.opCount);
}

/** Decodes `input` one token per step: each step's next-token logits. */
async function stepsLogits(sequence: LlamaContextSequence, input: readonly Token[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const token of input)
        out.push(await stepLogits(sequence, token));
    return out;
}

describe("SparQ in generation (Gutenberg model: 8 layers, d = 128, GQA 3:1)", () => {
    let llama: Llama;
    let model: LlamaModel;
    let tokens: Token[];

    async function logitsWith(sparq: SparqSettings | false, count: number, prefill: number): Promise<{logits: Float32Array[], opCounts: number[]}> {
        const context = await createSparqContext(model, {contextSize: 2048, sparq, threads: 2});
        try {
            const logits = await decodeLogits(context, tokens.slice(0, count), prefill);
            return {logits, opCounts: getSparq(context).layers.map((layer) => layer.opCount)};
        } finally {
            await context.dispose();
        }
    }

    beforeAll(async () => {
        llama = await getSparqLlama({build: "never"});
        model = await llama.loadModel({modelPath: gutenberg});
        tokens = model.tokenize((await fs.readFile(wikitext, "utf8")).slice(0, 20_000));
    });
    afterAll(() => llama?.dispose());

    it("with r = d and k >= S gives dense logits (within f16 noise) through a whole generation", async () => {
        const steps = 160;
        const dense = await logitsWith(false, 32 + steps, 32);
        // k covers every position a step sees (at most 192) but not the KV view of 256 cells, so the op runs
        const exact = await logitsWith({r: 128, k: 200}, 32 + steps, 32);
        expect(exact.opCounts).toEqual(new Array(8).fill(steps)); // every decode step, every layer ran SparQ
        expect(dense.opCounts).toEqual(new Array(8).fill(0));

        const rel = exact.logits.map((l, i) => maxRelativeDifference(dense.logits[i]!, l));
        const kl = exact.logits.map((l, i) => klDivergence(dense.logits[i]!, l));
        console.log(`r = d, k >= S vs dense: max relative logit difference ${Math.max(...rel).toExponential(2)}, ` +
            `KL per token mean ${mean(kl).toExponential(2)}, max ${Math.max(...kl).toExponential(2)}`);
        expect(rel[0]).toBe(0); // the prefill is dense in both
        expect(Math.max(...rel)).toBeLessThan(0.06);
        expect(mean(kl)).toBeLessThan(5e-3);
    });

    it("runs dense attention, not the op, in steps whose KV view holds at most k cells", async () => {
        const dense = await logitsWith(false, 48, 32);
        const covered = await logitsWith({r: 16, k: 256}, 48, 32);
        expect(covered.opCounts).toEqual(new Array(8).fill(0));
        covered.logits.forEach((l, i) => expect(maxRelativeDifference(dense.logits[i]!, l)).toBe(0));
    });

    it("at 8x on a 1.5k context stays close to dense (KL per token reported)", async () => {
        const prefill = 1024;
        const steps = 256;
        const dense = await logitsWith(false, prefill + steps, prefill);
        const sparq8 = await logitsWith({ratio: 8}, prefill + steps, prefill);
        const noRealloc = await logitsWith({ratio: 8, meanRealloc: false}, prefill + steps, prefill);
        const kl8 = sparq8.logits.slice(1).map((l, i) => klDivergence(dense.logits[i + 1]!, l));
        const klNo = noRealloc.logits.slice(1).map((l, i) => klDivergence(dense.logits[i + 1]!, l));
        const agree = sparq8.logits.slice(1).filter((l, i) => argmax(l) === argmax(dense.logits[i + 1]!)).length / steps;
        console.log(`8x at S = ${prefill}..${prefill + steps} (r = 16, k = S/16): KL per token mean ${mean(kl8).toFixed(4)}, ` +
            `max ${Math.max(...kl8).toFixed(3)}, top-1 agreement ${(100 * agree).toFixed(1)}%; ` +
            `without mean reallocation: mean KL ${mean(klNo).toFixed(4)}`);
        expect(sparq8.opCounts.every((count) => count === steps)).toBe(true);
        expect(mean(kl8)).toBeGreaterThan(0); // it is an approximation...
        expect(mean(kl8)).toBeLessThan(0.1); // ...and a close one
        expect(agree).toBeGreaterThan(0.8);
    });

    it("toggles exactly the chosen layers, and can change them between generations", async () => {
        const context = await createSparqContext(model, {contextSize: 512, sparq: {ratio: 4, layers: "2-5"}, threads: 2});
        try {
            await decodeLogits(context, tokens.slice(0, 48), 32);
            expect(getSparq(context).layers.map((layer) => layer.opCount)).toEqual([0, 0, 16, 16, 16, 16, 0, 0]);

            setSparq(context, {ratio: 4, layers: [0, 7]});
            await decodeLogits(context, tokens.slice(0, 48), 32);
            expect(getSparq(context).layers.map((layer) => layer.opCount)).toEqual([16, 0, 16, 16, 16, 16, 0, 16]);
            expect(getSparq(context, 1024).layers.map((layer) => layer.enabled)).toEqual([true, false, false, false, false, false, false, true]);
            expect(getSparq(context, 1024).layers[0]).toMatchObject({r: 32, k: 128, l: 32});
            // a CPU build runs every SparQ layer's op on the CPU; dense layers name no device
            expect(getSparq(context).layers.map((layer) => layer.device)).toEqual(["CPU", ...new Array(6).fill(undefined), "CPU"]);

            setSparq(context, false);
            await decodeLogits(context, tokens.slice(0, 48), 32);
            expect(getSparq(context).layers.map((layer) => layer.opCount)).toEqual([16, 0, 16, 16, 16, 16, 0, 16]);
            expect(getSparq(context).memorySize).toBe(0);
        } finally {
            await context.dispose();
        }
    });

    it("stays dense below denseBelow and switches to SparQ once the KV length reaches it", async () => {
        const context = await createSparqContext(model, {contextSize: 1024, sparq: {ratio: 8, denseBelow: 512}, threads: 2});
        try {
            const sequence = context.getSequence();
            await sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(0, 240));
            // KV views are padded to 256 cells: 256 while the sequence holds <= 256 tokens, 512 beyond
            expect((await opCountsAfter(context, sequence, tokens.slice(240, 256)))[0]).toBe(0);
            expect((await opCountsAfter(context, sequence, tokens.slice(256, 264)))[0]).toBe(8);
            expect(getSparq(context).denseBelow).toBe(512);
            // what getSparq says of a step at a KV length is what the op counts show
            expect(getSparq(context, 256).layers.map((layer) => layer.runsOp)).toEqual(getSparq(context, 256).layers.map(() => false));
            expect(getSparq(context, 512).layers.map((layer) => layer.runsOp)).toEqual(getSparq(context, 512).layers.map(() => true));
            // without a denseBelow, the backend's default: this CPU build runs SparQ at every length
            expect(getSparqBackend(context)).toBe("cpu");
            setSparq(context, {ratio: 8});
            expect(getSparq(context).denseBelow).toBe(0);
            setSparq(context, false);
            expect(getSparq(context).denseBelow).toBe(0);
            expect(getSparq(context, 512).layers.some((layer) => layer.runsOp)).toBe(false);
        } finally {
            await context.dispose();
        }
    });

    it("below denseBelow runs the dense graph alone, and from it on runs as if SparQ had been turned on there", async () => {
        // KV views of 256 cells up to 256 tokens, 512 beyond: denseBelow 512 switches at the 257th token
        const run = async (sparq: SparqSettings | false, switchTo?: SparqSettings) => {
            const context = await createSparqContext(model, {contextSize: 2048, sparq, threads: 2});
            try {
                const sequence = context.getSequence();
                await sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(0, 32));
                const early = await stepsLogits(sequence, tokens.slice(32, 256));
                if (switchTo)
                    setSparq(context, switchTo); // the next step rebuilds the V sums and the transposed K
                const late = await stepsLogits(sequence, tokens.slice(256, 300));
                return {early, late, opCount: getSparq(context).layers[0]!.opCount};
            } finally {
                await context.dispose();
            }
        };
        const below = await run({ratio: 8, denseBelow: 512});
        const dense = await run(false);
        const switched = await run(false, {ratio: 8, denseBelow: 0});
        expect(below.opCount).toBe(44);
        // the dense graph: dense logits, bit for bit; then the switch: what turning SparQ on gives
        below.early.forEach((l, i) => expect(maxRelativeDifference(dense.early[i]!, l)).toBe(0));
        below.late.forEach((l, i) => expect(maxRelativeDifference(switched.late[i]!, l)).toBe(0));
        expect(maxRelativeDifference(dense.late.at(-1)!, below.late.at(-1)!)).toBeGreaterThan(0); // SparQ ran
    });

    it("applies new settings at the next step of a running sequence (no stale graph is reused)", async () => {
        const context = await createSparqContext(model, {contextSize: 512, threads: 2});
        try {
            const sequence = context.getSequence();
            await sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(0, 64));
            const steps = (from: number) => opCountsAfter(context, sequence, tokens.slice(from, from + 8));
            expect(await steps(64)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
            setSparq(context, {ratio: 4, kMin: 16});
            expect(await steps(72)).toEqual([8, 8, 8, 8, 8, 8, 8, 8]);
            setSparq(context, {ratio: 4, kMin: 16, layers: "4-"});
            expect(await steps(80)).toEqual([8, 8, 8, 8, 16, 16, 16, 16]);
            setSparq(context, false);
            expect(await steps(88)).toEqual([8, 8, 8, 8, 16, 16, 16, 16]);
        } finally {
            await context.dispose();
        }
    });

    it("keeps mean(V) exact when tokens are removed from a sequence", async () => {
        // k small against S so that the mean-value term carries real weight
        const context = await createSparqContext(model, {contextSize: 1024, sparq: {ratio: 8, kMin: 8}, threads: 2});
        try {
            const sequence = context.getSequence();
            await sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(0, 300));
            const tail = tokens.slice(300, 340);
            const first = await stepsLogits(sequence, tail);
            // remove the 40 tokens just decoded (seq_rm), then decode them again at the same positions
            await sequence.eraseContextTokenRanges([{start: 300, end: 340}]);
            const again = await stepsLogits(sequence, tail);
            const rel = again.map((l, i) => maxRelativeDifference(first[i]!, l));
            console.log(`after removing 40 cells: max relative logit difference on re-decoding ${Math.max(...rel).toExponential(2)}`);
            expect(Math.max(...rel)).toBeLessThan(1e-5);
        } finally {
            await context.dispose();
        }
    });

    it("selects the same positions from the transposed K copy, through enabling mid-sequence, removals and shifted positions", async () => {
        // one sequence of cache edits, run with and without the copy: every step's logits must agree
        const run = async (storeKTwice: boolean) => {
            const context = await createSparqContext(model, {contextSize: 1024, threads: 2});
            try {
                const sequence = context.getSequence();
                await sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(0, 400));
                setSparq(context, {ratio: 8, kMin: 8, storeKTwice}); // the copy is built from the filled cache
                const out = await stepsLogits(sequence, tokens.slice(400, 416));
                await sequence.eraseContextTokenRanges([{start: 408, end: 416}]); // removal at the end
                out.push(...await stepsLogits(sequence, tokens.slice(416, 424)));
                await sequence.eraseContextTokenRanges([{start: 50, end: 90}]); // removal inside: later keys are shifted
                out.push(...await stepsLogits(sequence, tokens.slice(424, 440)));
                return {out, memorySize: getSparq(context).memorySize, opCount: getSparq(context).layers[0]!.opCount};
            } finally {
                await context.dispose();
            }
        };
        const gathered = await run(false);
        const transposed = await run(true);
        expect(transposed.opCount).toBe(40);
        // the copy costs one K cache over the SparQ layers: 8 layers x 1024 cells x 256 x f16
        expect(transposed.memorySize - gathered.memorySize).toBe(8 * 1024 * 256 * 2);
        const rel = transposed.out.map((l, i) => maxRelativeDifference(gathered.out[i]!, l));
        console.log(`transposed K copy vs gathering from K over 40 steps with edits and shifted positions: max relative logit difference ${Math.max(...rel).toExponential(2)}`);
        expect(Math.max(...rel)).toBeLessThan(1e-5);
    });

    it("serves several sequences of one context (one KV stream each) as it serves each alone", async () => {
        const prompts = [tokens.slice(0, 300), tokens.slice(1000, 1200)];
        const tails = [tokens.slice(300, 316), tokens.slice(1200, 1216)];
        // absolute r and k: in ratio mode k follows the KV view, which a batch shares (the longest sequence's)
        const settings: SparqSettings = {r: 16, k: 24};
        // decodes `tails` one token per step on each sequence, all sequences in the same steps
        const decodeTogether = async (sequences: LlamaContextSequence[]) => {
            await Promise.all(sequences.map((sequence, i) => sequence.evaluateWithoutGeneratingNewTokens(prompts[i]!)));
            const out: Float32Array[][] = sequences.map(() => []);
            for (let step = 0; step < tails[0]!.length; step++)
                await Promise.all(sequences.map(async (sequence, i) => {
                    out[i]!.push(await stepLogits(sequence, tails[i]![step]!));
                }));
            return out;
        };
        const together = await createSparqContext(model, {contextSize: 512, sequences: 2, sparq: settings, threads: 2});
        let joint: Float32Array[][];
        let ops: number;
        try {
            joint = await decodeTogether([together.getSequence(), together.getSequence()]);
            ops = getSparq(together).layers[0]!.opCount;
        } finally {
            await together.dispose();
        }
        const alone: Float32Array[][] = [];
        for (const i of [0, 1]) {
            const context = await createSparqContext(model, {contextSize: 512, sparq: settings, threads: 2});
            try {
                const sequence = context.getSequence();
                await sequence.evaluateWithoutGeneratingNewTokens(prompts[i]!);
                alone.push(await stepsLogits(sequence, tails[i]!));
            } finally {
                await context.dispose();
            }
        }
        expect(ops).toBeGreaterThanOrEqual(16); // SparQ ran in the joint decodes (16 steps, more decodes if a step was split)
        const rel = [0, 1].flatMap((i) => joint[i]!.map((l, step) => maxRelativeDifference(alone[i]![step]!, l)));
        console.log(`2 sequences decoded together vs each alone, r = 16, k = 24: max relative logit difference ${Math.max(...rel).toExponential(2)} (${ops} decodes)`);
        expect(Math.max(...rel)).toBeLessThan(1e-3);
    });

    it("reports its memory overhead, zero when off", async () => {
        const context = await createSparqContext(model, {contextSize: 512, threads: 2});
        try {
            expect(getSparq(context).memorySize).toBe(0);
            setSparq(context, {ratio: 8, storeKTwice: false});
            // one F32 sum of V per layer and sequence: 8 layers x (2 KV heads x 128)
            expect(getSparq(context).memorySize).toBeGreaterThanOrEqual(8 * 256 * 4);
            expect(getSparq(context).memorySize).toBeLessThan(8 * 256 * 4 + 8 * 4096);
        } finally {
            await context.dispose();
        }
    });

    it("rejects invalid settings by name", async () => {
        const context = await createSparqContext(model, {contextSize: 512, threads: 2});
        try {
            expect(() => setSparq(context, {ratio: 8, layers: [99]})).toThrow(SparqSettingsError);
            expect(() => setSparq(context, {ratio: 8, layers: [99]})).toThrow(/layer 99 does not exist \(the model has layers 0-7\)/);
            expect(() => setSparq(context, {r: 129, k: 64})).toThrow(/"r": 129 is out of range \[1, 128\]/);
            expect(() => setSparq(context, {ratio: 0.5})).toThrow(/"ratio": 0.5 must be a number >= 1/);
            expect(getSparq(context).layers.every((layer) => !layer.enabled)).toBe(true);
        } finally {
            await context.dispose();
        }
    });

    it("refuses a context it can't serve instead of running dense", async () => {
        const context = await model.createContext({contextSize: 512, flashAttention: false, threads: 2});
        try {
            expect(() => setSparq(context, {ratio: 8})).toThrow(/SparQ needs flash attention on/);
        } finally {
            await context.dispose();
        }
        await expect(createSparqContext(model, {contextSize: 512, flashAttention: false, sparq: {ratio: 8}}))
            .rejects.toThrow(/SparQ needs flash attention on/);
        await expect(createSparqContext(model, {contextSize: 512, experimentalKvCacheKeyType: "Q8_0", sparq: {ratio: 8}}))
            .rejects.toThrow(/SparQ needs an f16 KV cache \(this context's K cache is q8_0, its V cache f16\)/);
    });
});

function argmax(values: Float32Array): number {
    let best = 0;
    for (let i = 1; i < values.length; i++)
        if (values[i]! > values[best]!)
            best = i;
    return best;
}
