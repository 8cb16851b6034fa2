/**
 * Pass-key retrieval: a key hidden at a given depth of filler text, asked for at the end; greedy
 * answers scored per context length and depth. The prompt follows the template the Gutenberg model
 * was trained with (../shared/models/README.md): the needle " The pass key is N. Remember it. N is
 * the pass key." inside the "grass is green" filler (or sentences of a text), then
 * "\n\nWhat is the pass key? The pass key is". The filler and needle are prefilled densely; the
 * question is fed one decode step per token, so SparQ attends from the question to the needle.
 */
import type {LlamaModel, Token} from "node-llama-cpp";
import {createSparqContext, getModelAttentionShape} from "../sparq/context.js";
import {seededRandom} from "../random.js";
import {withBos} from "./data.js";
import {greedyForSettings} from "./generation.js";
import {passkeyCorrect} from "./metrics.js";
import {settingsPlotPoints, type EvalPlot, type EvalTable} from "./report.js";
import {resolveEvalSettings, type EvalSetting} from "./settings-list.js";
import {TransferMeter} from "./transfer.js";

export const grassFiller = ["The grass is green.", "The sky is blue.", "The sun is yellow.", "Here we go.", "There and back again."];
export const needleQuestion = "\n\nWhat is the pass key? The pass key is";
export const needleSentence = (key: string) => `The pass key is ${key}. Remember it. ${key} is the pass key.`;

export type NeedlePrompt = {key: string, context: Token[], question: Token[], needleSentenceIndex: number, fillerSentences: number};

/**
 * The prompt of one trial: filler sentences (cycled from `filler`) around the needle, which sits after
 * round(depth * count) of them; as many sentences as keep context + question + `answerTokens` within
 * `contextSize` tokens.
 */
export function buildNeedlePrompt(model: LlamaModel, options: {contextSize: number, depth: number, key: string,
    filler?: readonly string[], answerTokens: number}): NeedlePrompt {
    const {contextSize, depth, key, filler = grassFiller, answerTokens} = options;
    if (!(depth >= 0 && depth <= 1))
        throw new Error(`depth ${depth} must be in [0, 1]`);
    const question = model.tokenize(needleQuestion);
    const build = (count: number) => {
        const sentences = Array.from({length: count}, (_, i) => filler[i % filler.length]!);
        const at = Math.round(depth * count);
        sentences.splice(at, 0, needleSentence(key));
        return {context: withBos(model, model.tokenize(sentences.join(" "))), at};
    };
    const budget = contextSize - question.length - answerTokens;
    const perSentence = model.tokenize(filler.join(" ")).length / filler.length;
    let count = Math.max(0, Math.floor((budget - build(0).context.length) / perSentence));
    let prompt = build(count);
    while (prompt.context.length > budget && count > 0)
        prompt = build(--count);
    while (count < 1e6) {
        const more = build(count + 1);
        if (more.context.length > budget)
            break;
        prompt = more;
        count++;
    }
    if (prompt.context.length > budget)
        throw new Error(`a context of ${contextSize} tokens cannot hold the needle and the question`);
    return {key, context: prompt.context, question, needleSentenceIndex: prompt.at, fillerSentences: count};
}

export type NeedleOptions = {
    contextSizes: number[],
    depths: number[],
    trials: number,
    /** Filler sentences (default: the "grass is green" ones). */
    filler?: readonly string[],
    answerTokens?: number,
    seed?: number,
    threads?: number,
    log?: (line: string) => void
};

export type NeedleCell = {contextSize: number, depth: number, correct: number, trials: number, answers: string[]};

export type NeedleSettingResult = {
    label: string,
    sparq: EvalSetting["sparq"],
    accuracy: number,
    /** Share of trials whose answer text equals dense's (null without dense). */
    agreementWithDense: number | null,
    cells: NeedleCell[],
    transferFraction: number,
    transferBytesFraction: number,
    /** Mean transfer fraction over the decode steps of each context length. */
    transferByContext: Record<string, number>,
    decodeSteps: number,
    /** Wall time of this setting's decode steps (the shared dense prefills are counted apart). */
    seconds: number
};

export type NeedleResult = {
    contextSizes: number[],
    depths: number[],
    trials: number,
    keys: string[],
    prefillSeconds: number,
    settings: NeedleSettingResult[]
};

export async function runNeedle(model: LlamaModel, settings: readonly EvalSetting[], options: NeedleOptions): Promise<NeedleResult> {
    const {contextSizes, depths, trials, answerTokens = 8, seed = 1234, log = () => {}} = options;
    if (contextSizes.length === 0 || depths.length === 0 || !(trials >= 1))
        throw new Error("needle needs at least one context size, one depth and one trial");
    const tooLong = contextSizes.find((c) => c > model.trainContextSize);
    if (tooLong !== undefined)
        throw new Error(`--ctx ${tooLong} exceeds the model's training context (${model.trainContextSize})`);
    const badDepth = depths.find((d) => !(d >= 0 && d <= 1));
    if (badDepth !== undefined)
        throw new Error(`--depths: ${badDepth} is not in [0, 1]`);
    const shape = getModelAttentionShape(model);
    const resolved = resolveEvalSettings(settings, shape);
    const random = seededRandom(seed);

    const context = await createSparqContext(model, {contextSize: Math.max(...contextSizes), threads: options.threads});
    const meters = resolved.map((s) => new TransferMeter(s.params, shape.headDim, context.contextSize));
    const results = resolved.map((s): NeedleSettingResult => ({
        label: s.label, sparq: s.sparq, accuracy: 0, agreementWithDense: null, cells: [],
        transferFraction: 0, transferBytesFraction: 0, transferByContext: {}, decodeSteps: 0, seconds: 0
    }));
    const keys: string[] = [];
    let prefillSeconds = 0;
    try {
        for (const contextSize of contextSizes) {
            const contextMeters = resolved.map((s) => new TransferMeter(s.params, shape.headDim, context.contextSize));
            for (const depth of depths) {
                const cells = results.map((r) => {
                    const cell: NeedleCell = {contextSize, depth, correct: 0, trials: 0, answers: []};
                    r.cells.push(cell);
                    return cell;
                });
                for (let t = 0; t < trials; t++) {
                    const key = String(10000 + Math.floor(random() * 90000));
                    keys.push(key);
                    const prompt = buildNeedlePrompt(model, {contextSize, depth, key, filler: options.filler, answerTokens});
                    const run = await greedyForSettings(context, resolved, prompt, {
                        maxTokens: answerTokens,
                        // the answer is complete once a non-digit follows the digits
                        stop: (tokens) => /\d\D/.test(model.detokenize(tokens as Token[]))
                    });
                    prefillSeconds += run.prefillSeconds;
                    run.results.forEach((r, i) => {
                        const answer = model.detokenize(r.tokens);
                        cells[i]!.trials++;
                        cells[i]!.correct += passkeyCorrect(answer, key) ? 1 : 0;
                        cells[i]!.answers.push(answer);
                        for (const visible of r.stepLengths) {
                            meters[i]!.step(visible);
                            contextMeters[i]!.step(visible);
                        }
                        results[i]!.seconds += r.seconds;
                    });
                }
                log(`ctx ${contextSize}, depth ${depth}: ` + results.map((r, i) => `${r.label} ${cells[i]!.correct}/${cells[i]!.trials}`).join(", "));
            }
            results.forEach((r, i) => {
                r.transferByContext[contextSize] = contextMeters[i]!.meanFraction;
            });
        }
    } finally {
        await context.dispose();
    }
    const denseIndex = resolved.findIndex((s) => s.params == null);
    results.forEach((r, i) => {
        const total = r.cells.reduce((s, c) => s + c.trials, 0);
        r.accuracy = r.cells.reduce((s, c) => s + c.correct, 0) / total;
        r.transferFraction = meters[i]!.meanFraction;
        r.transferBytesFraction = meters[i]!.bytesFraction;
        r.decodeSteps = meters[i]!.stepCount;
        if (denseIndex >= 0) {
            const dense = results[denseIndex]!;
            let same = 0;
            r.cells.forEach((c, j) => c.answers.forEach((a, k) => {
                same += a === dense.cells[j]!.answers[k] ? 1 : 0;
            }));
            r.agreementWithDense = same / total;
        }
    });
    return {contextSizes, depths, trials, keys, prefillSeconds, settings: results};
}

const percent = (x: number) => `${(x * 100).toFixed(0)}%`;

export function needleTables(result: NeedleResult): EvalTable[] {
    const summary: EvalTable = {
        title: "Accuracy over all contexts and depths",
        headers: ["setting", "accuracy", "same answer as dense", "attn transfer", "bytes-weighted", "decode steps", "wall s (decode)"],
        rows: result.settings.map((s) => [
            s.label, percent(s.accuracy), s.agreementWithDense == null ? "-" : percent(s.agreementWithDense),
            s.transferFraction.toFixed(3), s.transferBytesFraction.toFixed(3), String(s.decodeSteps), s.seconds.toFixed(1)
        ])
    };
    const cells: EvalTable = {
        title: `Accuracy per context length and needle depth (${result.trials} trials per cell)`,
        headers: ["setting", "ctx", ...result.depths.map((d) => `depth ${d}`), "all depths"],
        rows: result.settings.flatMap((s) => result.contextSizes.map((contextSize) => {
            const row = s.cells.filter((c) => c.contextSize === contextSize);
            const correct = row.reduce((a, c) => a + c.correct, 0);
            const trials = row.reduce((a, c) => a + c.trials, 0);
            return [s.label, String(contextSize), ...row.map((c) => `${c.correct}/${c.trials}`), percent(correct / trials)];
        }))
    };
    return [summary, cells];
}

export function needlePlot(result: NeedleResult, modelName: string): EvalPlot {
    const points = result.contextSizes.flatMap((contextSize) => settingsPlotPoints(result.settings.map((s) => {
        const cells = s.cells.filter((c) => c.contextSize === contextSize);
        const accuracy = cells.reduce((a, c) => a + c.correct, 0) / cells.reduce((a, c) => a + c.trials, 0);
        return {label: s.label, x: s.transferByContext[contextSize]!, y: accuracy * 100};
    }), `ctx ${contextSize}: `));
    return {
        title: `Pass-key accuracy vs attention transfer: ${modelName}`,
        xLabel: "attention-transfer fraction (1 = dense; mean over the decode steps at that context)",
        yLabel: "pass-key accuracy (%)",
        yDomain: [0, 100],
        points
    };
}
