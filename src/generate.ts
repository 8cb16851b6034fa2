import {LlamaCompletion, type Llama, type Token} from "node-llama-cpp";
import {kvViewLength} from "./bench/bytes.js";
import {createSparqContext, getSparq, type SparqInfo} from "./sparq/context.js";
import {appendTokensInPlace} from "./sparq/token-history.js";
import type {SparqSettings} from "./sparq/settings.js";

export type GenerateOptions = {
    /** Local GGUF file. */
    modelPath: string,
    prompt: string,
    /** Tokens to generate at most. */
    maxTokens: number,
    /** 0 (default) is greedy decoding. */
    temperature?: number,
    /** Context size; defaults to the model's training context, capped to what fits. */
    contextSize?: number,
    /** CPU threads; node-llama-cpp's default when unset. */
    threads?: number,
    /** Called with each decoded piece of text as it is generated. */
    onText?: (text: string) => void,
    /** SparQ settings for the generation (prefill stays dense); off when unset. */
    sparq?: SparqSettings
};

export type GenerateResult = {
    text: string,
    tokens: Token[],
    promptTokens: number,
    /** Wall time of prompt processing plus generation. */
    seconds: number,
    /** Generated tokens per second of generation time (prompt processing excluded). */
    tokensPerSecond: number,
    /**
     * With `sparq`: the settings, each layer's r, k, l at the KV length of the last step (llama.cpp's
     * KV view: the tokens in the cache rounded up to 256), and its op count (SparQ decode steps).
     */
    sparq?: SparqInfo
};

/** Loads a model, completes a prompt and reports throughput; disposes everything it created. */
export async function generate(llama: Llama, options: GenerateOptions): Promise<GenerateResult> {
    const model = await llama.loadModel({modelPath: options.modelPath});
    try {
        const context = options.sparq == null
            ? appendTokensInPlace(await model.createContext({contextSize: options.contextSize, threads: options.threads}))
            : await createSparqContext(model, {contextSize: options.contextSize, threads: options.threads, sparq: options.sparq});
        const sequence = context.getSequence();
        const completion = new LlamaCompletion({contextSequence: sequence});
        const promptTokens = model.tokenize(options.prompt).length;
        const tokens: Token[] = [];
        const started = performance.now();
        let firstTokenAt = started;
        const text = await completion.generateCompletion(options.prompt, {
            maxTokens: options.maxTokens,
            temperature: options.temperature ?? 0,
            onToken: (chunk) => {
                if (tokens.length === 0)
                    firstTokenAt = performance.now();
                tokens.push(...chunk);
            },
            onTextChunk: options.onText
        });
        const finished = performance.now();
        const generationSeconds = (finished - firstTokenAt) / 1000;
        return {
            text,
            tokens,
            promptTokens,
            seconds: (finished - started) / 1000,
            tokensPerSecond: tokens.length > 1 ? (tokens.length - 1) / generationSeconds : 0,
            ...(options.sparq == null ? {} : {sparq: getSparq(context, kvViewLength(sequence.nextTokenIndex, context.contextSize))})
        };
    } finally {
        await model.dispose();
    }
}

/**
 * One line about the SparQ state after a generation: the settings, the r, k, l the enabled layers
 * use at the last step's KV length, and how many decode steps ran the SparQ op.
 */
export function formatSparqSummary(info: SparqInfo): string {
    const {settings} = info;
    if (settings == null)
        return "SparQ: off";
    const spec = settings.ratio !== undefined ? `ratio ${settings.ratio}` : `r = ${settings.r}, k = ${settings.k}`;
    const enabled = info.layers.filter((layer) => layer.enabled);
    const configs = [...new Set(enabled.map((layer) => `r=${layer.r} k=${layer.k} l=${layer.l}`))];
    const counts = enabled.map((layer) => layer.opCount);
    const minCount = Math.min(...counts);
    const maxCount = Math.max(...counts);
    return `SparQ: ${spec}${settings.layers === undefined ? "" : `, layers ${String(settings.layers)}`}; ` +
        `${enabled.length}/${info.layers.length} layers at ${configs.join(" | ")} (KV length ${info.kvLength}); ` +
        `SparQ op ran in ${minCount === maxCount ? minCount : `${minCount}-${maxCount}`} decode steps per layer ` +
        `(${counts.reduce((sum, count) => sum + count, 0)} layer-steps in all)` +
        (info.denseBelow > 0 ? `; dense attention below KV length ${info.denseBelow}` : "");
}
