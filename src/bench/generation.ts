/**
 * The engine of `sparq bench`: generation speed of one model at several context depths, dense
 * against SparQ modes, all in one process and one context per depth.
 *
 * Per depth: one context of depth + tokens + a small margin; the cache is filled once to `depth`
 * tokens (timed: pp t/s), then every mode generates `tokens` tokens from that same depth, over
 * `repeat` rounds with the mode order rotated each round (so drift of the machine, thermal or load,
 * falls on every mode alike). Between runs the sequence is rewound to `depth` and the settings are
 * switched with setSparq(). Each generated token is one decode step of all sequences together
 * (node-llama-cpp's controlledEvaluate(): decode, greedy sampling), fed from a fixed token stream so
 * that dense and SparQ do identical work apart from attention. Per-layer SparQ op counts prove that
 * SparQ ran in exactly the timed steps of SparQ modes and never in dense ones; a mismatch throws.
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {readGgufFileInfo, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaModel, type LlamaModelOptions, type Token} from "node-llama-cpp";
import {readPin} from "../build/vendor.js";
import {getSparqVersion} from "../load.js";
import {readAttentionShape} from "../models/shape.js";
import {seededRandom} from "../random.js";
import {createSparqContext, getSparq, setSparq} from "../sparq/context.js";
import {resolveSparqSettings, SparqSettingsError} from "../sparq/settings.js";
import {idealSpeedup, kvViewLength, meanGenerationAttentionBytes, weightBytesPerToken, type AttentionShape, type LayerSelection} from "./bytes.js";
import type {BenchMode} from "./options.js";
import {benchSchemaVersion, type BenchResult, type BenchRow, type BenchSparqLayer, type BenchStats} from "./report.js";

/** What a benchmark needs to know about a model before loading it. */
export type BenchModelInfo = BenchResult["model"] & {kvBytesPerElement: number};

/** Reads the shape, training context and weight bytes of a GGUF model from its header. */
export async function readBenchModelInfo(modelPath: string): Promise<BenchModelInfo> {
    const info = await readGgufFileInfo(modelPath, {readTensorInfo: true, logWarnings: false});
    const {layerCount, headCount, kvHeadCount, headDim, trainContextSize} = readAttentionShape(info.architectureMetadata, modelPath);
    if (trainContextSize == null)
        throw new Error(`${modelPath}: the GGUF metadata lacks the training context`);
    const {size: fileSize} = await fs.stat(modelPath);
    const tensors = (info.tensorInfo ?? []).map((tensor) => ({name: tensor.name, fileOffset: tensor.fileOffset}));
    return {
        path: modelPath,
        name: path.basename(modelPath).replace(/\.gguf$/i, ""),
        fileSize,
        architecture: String(info.metadata.general?.architecture ?? "unknown"),
        layerCount,
        headCount,
        kvHeadCount,
        headDim,
        trainContextSize,
        weightBytesPerToken: weightBytesPerToken(tensors, fileSize).perToken,
        // node-llama-cpp's default KV cache type is f16
        kvBytesPerElement: 2
    };
}

/** Tokens per progress line while filling the cache. */
const prefillChunk = 4096;

/**
 * Untimed decode steps of each run after its rewind: the first step after a change of graph runs
 * without a CUDA graph and the second captures one (ggml-cuda), so timing starts at the third, in
 * steady state, whatever the mode and the mode before it.
 */
export const settleSteps = 2;

/** Cells a benchmark context holds beyond depth + tokens (the settle steps; rounding slack). */
const contextMargin = 8 + settleSteps;

/** Checks depths and modes against a model before anything is loaded; throws naming the bad value. */
export function checkBenchPlan(model: BenchModelInfo, {contexts, modes, tokens}: {contexts: readonly number[], modes: readonly BenchMode[], tokens: number}): void {
    for (const depth of contexts) {
        if (depth + tokens > model.trainContextSize)
            throw new Error(
                `--ctx ${depth}: ${depth} + ${tokens} generated tokens exceed the training context of ${model.name} ` +
                `(${model.trainContextSize} tokens)`
            );
    }
    for (const mode of modes) {
        if (mode.sparq === false)
            continue;
        try {
            resolveSparqSettings(mode.sparq, model);
        } catch (err) {
            if (err instanceof SparqSettingsError)
                throw new Error(`--modes ${mode.label}: ${err.message} (${model.name} has ${model.layerCount} layers of head size ${model.headDim})`);
            throw err;
        }
    }
}

export type GenerationBenchOptions = {
    llama: Llama,
    modelPath: string,
    /** Context depths, in tokens. */
    contexts: readonly number[],
    modes: readonly BenchMode[],
    /** Tokens generated per timed run (default 32). */
    tokens?: number,
    /** Rounds over all modes (default 3). */
    repeat?: number,
    /** CPU threads (default: the llama instance's). */
    threads?: number,
    /** Sequences decoded together (default 1): each holds `depth` tokens, every step adds one token to each. */
    batch?: number,
    /** Untimed tokens per mode and depth before the rounds (default 2). */
    warmupTokens?: number,
    /** Seed of the token stream (default 0). */
    seed?: number,
    /** The --layers spec the modes were given, recorded in the result. */
    layers?: string,
    /** Loads the model (default: llama.loadModel): e.g. split over GPUs or RPC servers. */
    loadModel?: (options: LlamaModelOptions) => Promise<LlamaModel>,
    /** Where the model runs when loadModel places it, recorded as the backend (e.g. "cuda, 2 GPUs"). */
    placement?: string,
    /** One line per step of progress. */
    onProgress?: (line: string) => void
};


/** `length` tokens drawn uniformly (seeded) from the model's ordinary (non-special, non-EOG) tokens. */
export function createTokenStream(model: LlamaModel, length: number, seed: number): Token[] {
    const ordinary: Token[] = [];
    for (const token of model.iterateAllTokens())
        if (!model.isSpecialToken(token) && !model.isEogToken(token))
            ordinary.push(token);
    if (ordinary.length === 0)
        throw new Error("the model's vocabulary has no ordinary tokens");
    const random = seededRandom(seed);
    return Array.from({length}, () => ordinary[Math.floor(random() * ordinary.length)]!);
}

/**
 * Generates one token per element of `tokens` in every sequence: one decode step per token, each
 * evaluating the current token of all sequences in one batch and sampling every sequence's next
 * token greedily (node-llama-cpp's controlledEvaluate()), then feeding the given token instead of
 * the sampled one. All sequences queue their token before node-llama-cpp dispatches the batch, so a
 * step is exactly one decode of `sequences.length` tokens (its evaluate() loops, one per sequence,
 * resume at different times after a decode and split a step into several smaller decodes).
 */
async function decodeFixedTokens(sequences: readonly LlamaContextSequence[], tokens: readonly Token[]): Promise<number[]> {
    const stepMs: number[] = [];
    for (const [i, token] of tokens.entries()) {
        const started = performance.now();
        const outputs = await Promise.all(sequences.map((sequence) => sequence.controlledEvaluate([[token, {generateNext: {token: true}}]])));
        stepMs.push(performance.now() - started);
        if (outputs.some((output) => output[0]?.next.token == null))
            throw new Error(`generation stopped after ${i} of ${tokens.length} tokens`);
    }
    return stepMs;
}

function opCounts(context: LlamaContext): number[] {
    return getSparq(context).layers.map((layer) => layer.opCount);
}

function stats(values: readonly number[]): BenchStats {
    const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
    const sd = values.length < 2
        ? null
        : Math.sqrt(values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (values.length - 1));
    return {mean, sd, perRound: [...values]};
}

/** Rewinds `sequence` to `depth` tokens of `stream`, leaving llama.cpp's next decode to build a fresh graph. */
async function rewind(sequence: LlamaContextSequence, stream: readonly Token[], depth: number): Promise<void> {
    // llama.cpp reuses the previous step's graph when the new step has the same shape, and its reuse
    // test does not look at the SparQ settings: after a dense step, a SparQ step of the same shape
    // would run the dense graph. Re-evaluating the last 2 tokens as one batch (a different shape)
    // makes the next decode build its graph under the current settings; it also lets SparQ rebuild its
    // running V sums after the erase here, outside the timed steps.
    await sequence.eraseContextTokenRanges([{start: depth - 2, end: sequence.nextTokenIndex}]);
    await sequence.evaluateWithoutGeneratingNewTokens(stream.slice(depth - 2, depth));
    if (sequence.nextTokenIndex !== depth)
        throw new Error(`rewinding to ${depth} tokens left ${sequence.nextTokenIndex} in the cache`);
}

/**
 * Throws unless SparQ ran in every decode step in each layer it is enabled for, and in no other
 * layer: `ops` are the per-layer op counts the steps added, `enabled` the layers SparQ is on for
 * (all false in dense mode). A step is one decode of all sequences, so every enabled layer counts
 * exactly `steps`, whatever the batch.
 */
export function verifySparqRan({mode, depth, steps, ops, enabled}: {
    mode: string, depth: number, steps: number, ops: readonly number[], enabled: readonly boolean[]
}): void {
    if (ops.length !== enabled.length)
        throw new Error(`op counts of ${ops.length} layers for ${enabled.length} layers`);
    const wrong = ops.findIndex((count, layer) => count !== (enabled[layer] ? steps : 0));
    if (wrong >= 0)
        throw new Error(
            `SparQ did not run as set in mode ${mode} at ctx ${depth}: layer ${wrong} ran the SparQ op ${ops[wrong]} times ` +
            `in ${steps} decode steps (expected ${enabled[wrong] ? steps : 0})`
        );
    if (mode !== "dense" && !enabled.some(Boolean))
        throw new Error(`mode ${mode} enables SparQ in no layer`);
}

/** Whether a decode step of `context` at KV view `nKv` runs the SparQ op, under the settings applied to it. */
function runsSparq(context: LlamaContext, nKv: number): boolean {
    return getSparq(context, nKv).layers.some((layer) => layer.runsOp);
}

/**
 * Runs `mode` for `tokens` tokens per sequence from `depth` (after `settleSteps` untimed ones), all
 * sequences together: returns the tokens/sec of all sequences, the slowest step in ms and the op
 * counts it added per layer.
 */
async function runMode(
    context: LlamaContext, sequences: readonly LlamaContextSequence[], stream: readonly Token[], depth: number, tokens: number, mode: BenchMode
): Promise<{tokensPerSecond: number, maxStepMs: number, ops: number[]}> {
    setSparq(context, mode.sparq);
    await Promise.all(sequences.map((sequence) => rewind(sequence, stream, depth)));
    await decodeFixedTokens(sequences, stream.slice(depth, depth + settleSteps));
    const start = depth + settleSteps;
    // step i attends start + i + 1 positions; the op runs where the KV view allows it
    const sparqSteps = Array.from({length: tokens}, (_, i) => kvViewLength(start + i + 1, context.contextSize))
        .filter((nKv) => runsSparq(context, nKv)).length;
    const before = opCounts(context);
    const started = performance.now();
    const stepMs = await decodeFixedTokens(sequences, stream.slice(start, start + tokens));
    const seconds = (performance.now() - started) / 1000;
    const ops = opCounts(context).map((count, i) => count - before[i]!);

    const enabled = mode.sparq === false ? ops.map(() => false) : getSparq(context).layers.map((layer) => layer.enabled);
    verifySparqRan({mode: mode.label, depth, steps: sparqSteps, ops, enabled});
    return {tokensPerSecond: sequences.length * tokens / seconds, maxStepMs: Math.max(...stepMs), ops};
}

/** The benchmark; the returned result is ready for writeBenchReport(). */
export async function runGenerationBench(options: GenerationBenchOptions): Promise<BenchResult> {
    const {llama, modelPath, contexts, modes, tokens = 32, repeat = 3, batch = 1, warmupTokens = 2, seed = 0, onProgress} = options;
    const createdAt = new Date().toISOString();
    const loadBefore = os.loadavg();
    if (!Number.isInteger(batch) || batch < 1)
        throw new Error(`batch must be a positive integer, got ${batch}`);
    if (!Number.isInteger(tokens) || tokens < 1)
        throw new Error(`tokens must be a positive integer, got ${tokens}`);
    if (!Number.isInteger(repeat) || repeat < 1)
        throw new Error(`repeat must be a positive integer, got ${repeat}`);
    if (contexts.length === 0 || modes.length === 0)
        throw new Error("name at least one context depth and one mode");
    if (contexts.some((depth) => !Number.isInteger(depth) || depth < 16))
        throw new Error(`context depths must be integers >= 16, got ${contexts.join(", ")}`);

    const info = await readBenchModelInfo(modelPath);
    checkBenchPlan(info, {contexts, modes, tokens});
    const shape: AttentionShape = {
        layerCount: info.layerCount, headDim: info.headDim, kvHeadCount: info.kvHeadCount, kvBytesPerElement: info.kvBytesPerElement
    };
    const sparqVersion = getSparqVersion(llama);
    if (sparqVersion == null)
        throw new Error("the llama instance is not a sparq-llama build: load it with getSparqLlama()");

    onProgress?.(`loading ${modelPath}`);
    const model = await (options.loadModel ?? ((modelOptions) => llama.loadModel(modelOptions)))({modelPath});
    const rows: BenchRow[] = [];
    let threadsUsed = options.threads ?? 0;
    try {
        const maxDepth = Math.max(...contexts);
        const stream = createTokenStream(model, maxDepth + settleSteps + tokens, seed);
        for (const depth of contexts) {
            // contextSize is per sequence in node-llama-cpp: each sequence gets its own cells
            const context = await createSparqContext(model, {
                contextSize: depth + tokens + contextMargin, sequences: batch, threads: options.threads, flashAttention: true, sparq: false
            });
            try {
                threadsUsed = context.currentThreads;
                const sequences = Array.from({length: batch}, () => context.getSequence());
                const filling = batch === 1 ? "the cache" : `${batch} sequences`;
                onProgress?.(`ctx ${depth}: filling ${filling} (context of ${context.contextSize} tokens, ${threadsUsed} threads)`);
                const prefillStarted = performance.now();
                // in chunks (node-llama-cpp batches each into ubatches of its batch size anyway), for progress lines
                for (let filled = 0; filled < depth;) {
                    const end = Math.min(depth, filled + prefillChunk);
                    await Promise.all(sequences.map((sequence) => sequence.evaluateWithoutGeneratingNewTokens(stream.slice(filled, end))));
                    filled = end;
                    if (filled < depth)
                        onProgress?.(`ctx ${depth}: filled ${filled}/${depth} tokens (${((performance.now() - prefillStarted) / 1000).toFixed(0)} s)`);
                }
                const prefillSeconds = (performance.now() - prefillStarted) / 1000;
                const prefill = {tokens: depth * batch, seconds: prefillSeconds, tokensPerSecond: depth * batch / prefillSeconds};
                onProgress?.(`ctx ${depth}: prefill ${prefill.tokensPerSecond.toFixed(1)} t/s (${prefillSeconds.toFixed(1)} s)`);

                // untimed warm-up of every mode; also where each mode's bytes per token are worked out
                const bytes = new Map<string, ReturnType<typeof meanGenerationAttentionBytes>>();
                const layerInfo = new Map<string, BenchSparqLayer[]>();
                for (const mode of modes) {
                    if (warmupTokens > 0)
                        await runMode(context, sequences, stream, depth, Math.min(warmupTokens, tokens), mode);
                    else
                        setSparq(context, mode.sparq);
                    const layersAt = mode.sparq === false
                        ? null
                        : (nKv: number): LayerSelection[] => getSparq(context, nKv).layers
                            .map((layer) => (layer.runsOp ? {r: layer.r!, k: layer.k!} : null));
                    const modeBytes = meanGenerationAttentionBytes(shape, {depth: depth + settleSteps, tokens, contextSize: context.contextSize, layersAt});
                    bytes.set(mode.label, modeBytes);
                    if (mode.sparq !== false)
                        layerInfo.set(mode.label, getSparq(context, kvViewLength(Math.round(modeBytes.meanPositions), context.contextSize)).layers
                            .map(({layer, enabled, r, k, l}) => ({layer, enabled, ...(enabled ? {r, k, l} : {}), opCount: 0})));
                }

                const perRound = new Map<string, number[]>(modes.map((mode) => [mode.label, []]));
                for (let round = 0; round < repeat; round++) {
                    const order = modes.map((_, i) => modes[(i + round) % modes.length]!);
                    const line: string[] = [];
                    for (const mode of order) {
                        const {tokensPerSecond, maxStepMs, ops} = await runMode(context, sequences, stream, depth, tokens, mode);
                        perRound.get(mode.label)!.push(tokensPerSecond);
                        layerInfo.get(mode.label)?.forEach((layer, i) => {
                            layer.opCount += ops[i]!;
                        });
                        line.push(`${mode.label} ${tokensPerSecond.toFixed(2)} t/s (slowest step ${maxStepMs.toFixed(1)} ms)`);
                    }
                    onProgress?.(`ctx ${depth}: round ${round + 1}/${repeat}: ${line.join(", ")}`);
                }
                setSparq(context, false);

                const dense = perRound.get("dense");
                const denseMean = dense == null ? null : stats(dense).mean;
                for (const mode of modes) {
                    const tps = stats(perRound.get(mode.label)!);
                    const modeBytes = bytes.get(mode.label)!;
                    const speedup = denseMean == null ? null : tps.mean / denseMean;
                    // one step reads the weights once and every sequence's attention bytes
                    const ideal = idealSpeedup(info.weightBytesPerToken, batch * modeBytes.dense, batch * modeBytes.sparq);
                    const layers = layerInfo.get(mode.label);
                    rows.push({
                        ctx: depth,
                        mode: mode.label,
                        sparq: mode.sparq === false ? null : {...mode.sparq},
                        batch,
                        prefill,
                        generation: {tokens, tokensPerSecond: tps},
                        speedupVsDense: speedup,
                        attention: {meanPositions: modeBytes.meanPositions, denseBytesPerToken: modeBytes.dense, bytesPerToken: modeBytes.sparq},
                        idealSpeedup: ideal,
                        fractionOfIdeal: speedup == null ? null : speedup / ideal,
                        // decodes of the timed steps: one per step (verifySparqRan checked each run)
                        sparqOps: layers == null ? null : {decodeSteps: layers.find((layer) => layer.enabled)?.opCount ?? tokens * repeat, layers}
                    });
                }
            } finally {
                await context.dispose();
            }
        }
    } finally {
        await model.dispose();
    }

    const {kvBytesPerElement: _, ...modelInfo} = info;
    return {
        schemaVersion: benchSchemaVersion,
        createdAt,
        model: modelInfo,
        system: {
            backend: options.placement ?? (llama.gpu || "cpu"),
            threads: threadsUsed,
            sparqVersion,
            llamaCpp: (await readPin()).release,
            cpu: os.cpus()[0]?.model.trim() ?? "unknown",
            cpuCount: os.cpus().length,
            loadAverage: {before: loadBefore, after: os.loadavg()},
            node: process.version
        },
        settings: {
            contexts: [...contexts],
            modes: modes.map((mode) => mode.label),
            batch,
            repeat,
            tokens,
            warmupTokens,
            settleSteps,
            seed,
            kvType: "f16",
            flashAttention: true,
            layers: options.layers ?? null
        },
        results: rows
    };
}
