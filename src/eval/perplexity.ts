/**
 * Perplexity as generation sees it: windows of N tokens over a text; in each, a dense prefill of the
 * first P tokens, then every remaining token scored, one decode step per token, for every setting.
 */
import type {LlamaContext, LlamaModel, Token} from "node-llama-cpp";
import {createSparqContext, getModelAttentionShape, getSparq} from "../sparq/context.js";
import {restrictToVocabulary, tokenizePrefix, withBos} from "./data.js";
import {decodeLogProbs} from "./logits.js";
import {deltaPercent, perplexity} from "./metrics.js";
import {settingsPlotPoints, type EvalPlot, type EvalTable} from "./report.js";
import {resolveEvalSettings, type EvalSetting} from "./settings-list.js";
import {TransferMeter} from "./transfer.js";

export type PerplexityOptions = {
    text: string,
    /** Window length N in tokens (BOS included when the model uses one). */
    contextSize: number,
    /** Tokens of each window prefilled densely (P); the other N - P are scored. */
    prefill: number,
    /** Windows to run at most. */
    windows: number,
    /** Tokens between window starts (default N: windows do not overlap). */
    stride?: number,
    /** Starts no new window once this many seconds are spent (or would be by the next window). */
    timeBudgetSeconds?: number,
    /** Replace characters the vocabulary cannot tokenise by spaces first (see restrictToVocabulary). */
    restrictToVocabulary?: boolean,
    threads?: number,
    log?: (line: string) => void
};

export type PerplexityWindow = {start: number, nll: number, ppl: number, seconds: number, top1Agreement: number | null};

export type PerplexitySettingResult = {
    label: string,
    sparq: EvalSetting["sparq"],
    scoredTokens: number,
    /** Mean negative log-likelihood, nats per token. */
    nll: number,
    ppl: number,
    /** PPL change against dense, in % (null without a dense setting). */
    deltaPercent: number | null,
    /**
     * 95% interval of deltaPercent from the paired per-token NLL differences, treating tokens as
     * independent (they are not quite: an indication, narrower than the truth). Null without dense.
     */
    deltaPercentInterval: [number, number] | null,
    /** Mean over decode steps of the fraction of dense attention bytes moved. */
    transferFraction: number,
    /** Same, weighted by each step's KV length. */
    transferBytesFraction: number,
    /** Share of scored positions whose argmax equals dense's (null without a dense setting). */
    top1Agreement: number | null,
    /** Decode steps in which each SparQ layer ran the SparQ op (min over enabled layers; 0 for dense). */
    sparqOpSteps: number,
    decodeSteps: number,
    /** Wall time of this setting's windows (prefill + decode steps). */
    seconds: number,
    windows: PerplexityWindow[]
};

export type PerplexityResult = {
    contextSize: number,
    prefill: number,
    stride: number,
    /** Text tokens per window (the window less BOS). */
    textTokensPerWindow: number,
    windowsRequested: number,
    windowsRun: number,
    /** Why fewer windows ran than requested, if they did. */
    stoppedBecause: string | null,
    textTokensAvailable: number,
    /** Characters of the text replaced by spaces (restrictToVocabulary), else 0. */
    charactersReplaced: number,
    settings: PerplexitySettingResult[]
};

/** Runs the perplexity comparison; `settings` are validated against the model before anything runs. */
export async function runPerplexity(model: LlamaModel, settings: readonly EvalSetting[], options: PerplexityOptions): Promise<PerplexityResult> {
    const {contextSize: n, prefill, windows, stride = options.contextSize, log = () => {}} = options;
    if (!Number.isInteger(n) || n < 2)
        throw new Error(`--ctx must be an integer >= 2, got ${n}`);
    if (!Number.isInteger(prefill) || prefill < 1 || prefill >= n)
        throw new Error(`--prefill must be an integer in [1, ${n - 1}] (below --ctx), got ${prefill}`);
    if (!Number.isInteger(stride) || stride < 1)
        throw new Error(`--stride must be a positive integer, got ${stride}`);
    const shape = getModelAttentionShape(model);
    const resolved = resolveEvalSettings(settings, shape);
    if (n > model.trainContextSize)
        throw new Error(`--ctx ${n} exceeds the model's training context (${model.trainContextSize})`);

    const bosCount = withBos(model, []).length;
    const textPerWindow = n - bosCount;
    const neededTokens = textPerWindow + stride * (windows - 1);
    const {text, replaced} = options.restrictToVocabulary ? restrictToVocabulary(model, options.text) : {text: options.text, replaced: 0};
    const textTokens = tokenizePrefix(model, text, neededTokens);
    const windowStarts: number[] = [];
    for (let w = 0; w < windows && w * stride + textPerWindow <= textTokens.length; w++)
        windowStarts.push(w * stride);
    if (windowStarts.length === 0)
        throw new Error(`the text has ${textTokens.length} tokens: too few for one window of ${n}`);

    const contexts: LlamaContext[] = [];
    const state = resolved.map((setting) => ({
        setting,
        meter: null as TransferMeter | null,
        logProbs: [] as number[],
        argmaxes: [] as Int32Array[],
        windows: [] as PerplexityWindow[],
        seconds: 0,
        sparqOpSteps: 0
    }));
    const denseIndex = resolved.findIndex((s) => s.params == null);
    let stoppedBecause: string | null = windowStarts.length < windows
        ? `the text holds only ${windowStarts.length} window(s) of ${n} tokens at stride ${stride}` : null;
    const started = performance.now();
    try {
        for (const s of state) {
            const context = await createSparqContext(model, {contextSize: n, sparq: s.setting.sparq, threads: options.threads});
            contexts.push(context);
            s.meter = new TransferMeter(s.setting.params, shape.headDim, context.contextSize);
        }
        let windowsRun = 0;
        for (const start of windowStarts) {
            const elapsed = (performance.now() - started) / 1000;
            if (options.timeBudgetSeconds != null && windowsRun > 0 && elapsed * (windowsRun + 1) / windowsRun > options.timeBudgetSeconds) {
                stoppedBecause = `time budget of ${options.timeBudgetSeconds} s: ${windowsRun} window(s) took ${elapsed.toFixed(0)} s`;
                break;
            }
            const tokens: Token[] = withBos(model, textTokens.slice(start, start + textPerWindow));
            for (const [i, s] of state.entries()) {
                const context = contexts[i]!;
                const opsBefore = getSparq(context).layers.map((l) => l.opCount);
                const t0 = performance.now();
                const scores = await decodeLogProbs(context, tokens, prefill);
                const seconds = (performance.now() - t0) / 1000;
                const opsAfter = getSparq(context).layers.map((l) => l.opCount);
                const enabledLayers = s.setting.params?.layers.flatMap((on, layer) => on ? [layer] : []) ?? [];
                const opSteps = enabledLayers.length === 0 ? 0
                    : Math.min(...enabledLayers.map((layer) => opsAfter[layer]! - opsBefore[layer]!));
                const decodeSteps = tokens.length - prefill - 1;
                if (s.setting.params != null && decodeSteps > 0 && opSteps !== decodeSteps)
                    throw new Error(`${s.setting.label}: the SparQ op ran in ${opSteps} of ${decodeSteps} decode steps: the setting did not apply`);
                s.sparqOpSteps += opSteps;
                // decode step feeding tokens[j] (j = prefill .. n-2) attends over j + 1 positions
                for (let j = prefill; j < tokens.length - 1; j++)
                    s.meter!.step(j + 1);
                s.logProbs.push(...scores.logProbs);
                s.argmaxes.push(scores.argmax);
                s.seconds += seconds;
                const windowNll = -scores.logProbs.reduce((a, b) => a + b, 0) / scores.logProbs.length;
                s.windows.push({start, nll: windowNll, ppl: Math.exp(windowNll), seconds, top1Agreement: null});
                log(`window ${windowsRun + 1}/${windowStarts.length} (text tokens ${start}..${start + textPerWindow - 1}) ${s.setting.label}: ` +
                    `PPL ${Math.exp(windowNll).toFixed(3)}, ${seconds.toFixed(1)} s`);
            }
            windowsRun++;
        }

        const dense = denseIndex >= 0 ? state[denseIndex]! : null;
        const densePpl = dense != null ? perplexity(dense.logProbs) : null;
        const results = state.map((s): PerplexitySettingResult => {
            let agree: number | null = null;
            let interval: [number, number] | null = null;
            if (dense != null)
                interval = pairedDeltaInterval(dense.logProbs, s.logProbs);
            if (dense != null) {
                let same = 0;
                let total = 0;
                s.argmaxes.forEach((argmax, w) => {
                    const reference = dense.argmaxes[w]!;
                    let windowSame = 0;
                    for (let i = 0; i < argmax.length; i++)
                        windowSame += argmax[i] === reference[i] ? 1 : 0;
                    s.windows[w]!.top1Agreement = windowSame / argmax.length;
                    same += windowSame;
                    total += argmax.length;
                });
                agree = same / total;
            }
            const ppl = perplexity(s.logProbs);
            return {
                label: s.setting.label,
                sparq: s.setting.sparq,
                scoredTokens: s.logProbs.length,
                nll: Math.log(ppl),
                ppl,
                deltaPercent: densePpl != null ? deltaPercent(ppl, densePpl) : null,
                deltaPercentInterval: interval,
                transferFraction: s.meter!.meanFraction,
                transferBytesFraction: s.meter!.bytesFraction,
                top1Agreement: agree,
                sparqOpSteps: s.sparqOpSteps,
                decodeSteps: s.meter!.stepCount,
                seconds: s.seconds,
                windows: s.windows
            };
        });
        return {
            contextSize: n, prefill, stride, textTokensPerWindow: textPerWindow, windowsRequested: windows, windowsRun, stoppedBecause,
            textTokensAvailable: textTokens.length, charactersReplaced: replaced, settings: results
        };
    } finally {
        for (const context of contexts)
            await context.dispose();
    }
}

/**
 * 95% interval of the PPL change (in %) of `logProbs` against `reference` on the same tokens:
 * exp(mean(d) +- 1.96 sd(d) / sqrt(n)) - 1, d = per-token NLL difference.
 */
export function pairedDeltaInterval(reference: readonly number[], logProbs: readonly number[]): [number, number] {
    if (reference.length !== logProbs.length || reference.length < 2)
        throw new RangeError("paired interval needs two equally long lists of at least 2 log-probabilities");
    const n = reference.length;
    const diffs = reference.map((r, i) => r - logProbs[i]!);
    const m = diffs.reduce((a, b) => a + b, 0) / n;
    const variance = diffs.reduce((a, d) => a + (d - m) ** 2, 0) / (n - 1);
    const half = 1.96 * Math.sqrt(variance / n);
    return [(Math.exp(m - half) - 1) * 100, (Math.exp(m + half) - 1) * 100];
}

const fixed = (digits: number) => (x: number | null) => x == null || !Number.isFinite(x) ? "-" : x.toFixed(digits);
const signedPercent = (x: number | null) => x == null ? "-" : `${x >= 0 ? "+" : ""}${x.toFixed(2)}%`;

export function perplexityTable(result: PerplexityResult): EvalTable {
    return {
        headers: ["setting", "PPL", "Δ vs dense", "95% interval*", "attn transfer", "bytes-weighted", "top-1 = dense", "scored tokens", "wall s"],
        rows: result.settings.map((s) => [
            s.label, fixed(3)(s.ppl), signedPercent(s.deltaPercent),
            s.deltaPercentInterval == null || s.label === "dense" ? "-"
                : `${signedPercent(s.deltaPercentInterval[0])} .. ${signedPercent(s.deltaPercentInterval[1])}`,
            fixed(3)(s.transferFraction), fixed(3)(s.transferBytesFraction),
            s.top1Agreement == null ? "-" : `${(s.top1Agreement * 100).toFixed(1)}%`, String(s.scoredTokens), fixed(1)(s.seconds)
        ])
    };
}

/** PPL of every window per setting, and its change against dense in the same window. */
export function perplexityWindowTable(result: PerplexityResult): EvalTable {
    const dense = result.settings.find((s) => s.label === "dense");
    return {
        title: "Per window (PPL, and change against dense on the same tokens)",
        headers: ["window (text tokens)", ...result.settings.map((s) => s.label)],
        rows: (result.settings[0]?.windows ?? []).map((w, i) => [
            `${w.start}..${w.start + result.textTokensPerWindow - 1}`,
            ...result.settings.map((s) => {
                const ppl = s.windows[i]!.ppl;
                return dense == null || s === dense ? fixed(2)(ppl) : `${fixed(2)(ppl)} (${signedPercent(deltaPercent(ppl, dense.windows[i]!.ppl))})`;
            })
        ])
    };
}

export function perplexityPlot(result: PerplexityResult, modelName: string): EvalPlot {
    const dense = result.settings.find((s) => s.label === "dense");
    const points = settingsPlotPoints(result.settings.map((s) => ({label: s.label, x: s.transferFraction, y: s.ppl})));
    return {
        title: `Perplexity vs attention transfer: ${modelName}, ctx ${result.contextSize}, prefill ${result.prefill}` +
            `${dense ? ` (dense ${dense.ppl.toFixed(2)})` : ""}`,
        xLabel: "attention-transfer fraction (1 = dense)",
        yLabel: "perplexity",
        points
    };
}
