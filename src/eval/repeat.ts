/**
 * Text repetition (the SparQ paper's task): the model reads a passage, is then shown its first few
 * tokens again, and must go on repeating it; the score is how long the exact match lasts, in
 * characters and tokens. The passage is prefilled densely; the "\n\n" and the cue are fed one decode
 * step per token and the repetition generated greedily (stopped at the first wrong token).
 */
import type {LlamaModel} from "node-llama-cpp";
import {createSparqContext, getModelAttentionShape} from "../sparq/context.js";
import {restrictToVocabulary, tokenizePrefix, withBos} from "./data.js";
import {greedyForSettings} from "./generation.js";
import {matchingPrefixLength, mean} from "./metrics.js";
import {settingsPlotPoints, type EvalPlot, type EvalTable} from "./report.js";
import {resolveEvalSettings, type EvalSetting} from "./settings-list.js";
import {TransferMeter} from "./transfer.js";

export type RepeatOptions = {
    text: string,
    /** Passages to use: consecutive slices of the text. */
    samples: number,
    /** Passage length in tokens. */
    passageTokens: number,
    /** Tokens of the passage shown again as the cue. */
    cueTokens?: number,
    /** Tokens to generate at most. */
    maxTokens?: number,
    /** Skip this many tokens of the text first. */
    offset?: number,
    /** Replace characters the vocabulary cannot tokenise by spaces first (see restrictToVocabulary). */
    restrictToVocabulary?: boolean,
    threads?: number,
    log?: (line: string) => void
};

export type RepeatSample = {start: number, matchedChars: number[], matchedTokens: number[]};

export type RepeatSettingResult = {
    label: string,
    sparq: EvalSetting["sparq"],
    meanMatchedChars: number,
    meanMatchedTokens: number,
    /** Samples repeated without error up to the generation limit. */
    fullMatches: number,
    transferFraction: number,
    transferBytesFraction: number,
    decodeSteps: number,
    seconds: number
};

export type RepeatResult = {
    samples: RepeatSample[],
    passageTokens: number,
    cueTokens: number,
    maxTokens: number,
    /** Characters of the reference continuation each sample could match at most (the first maxTokens tokens). */
    maxChars: number[],
    prefillSeconds: number,
    settings: RepeatSettingResult[]
};

export async function runRepeat(model: LlamaModel, settings: readonly EvalSetting[], options: RepeatOptions): Promise<RepeatResult> {
    const {samples, passageTokens, cueTokens = 8, maxTokens = 64, offset = 0, log = () => {}} = options;
    if (!(cueTokens >= 1 && cueTokens + maxTokens <= passageTokens))
        throw new Error(`the cue (${cueTokens} tokens) plus the tokens to generate (${maxTokens}) must fit in the passage (${passageTokens})`);
    const separator = model.tokenize("\n\n");
    const contextSize = withBos(model, []).length + passageTokens + separator.length + cueTokens + maxTokens;
    if (contextSize > model.trainContextSize)
        throw new Error(`passage ${passageTokens} + cue ${cueTokens} + ${maxTokens} generated tokens exceed the model's training context (${model.trainContextSize})`);
    const shape = getModelAttentionShape(model);
    const resolved = resolveEvalSettings(settings, shape);
    const text = options.restrictToVocabulary ? restrictToVocabulary(model, options.text).text : options.text;
    const tokens = tokenizePrefix(model, text, offset + samples * passageTokens);
    const starts = Array.from({length: samples}, (_, i) => offset + i * passageTokens).filter((s) => s + passageTokens <= tokens.length);
    if (starts.length === 0)
        throw new Error(`the text has ${tokens.length} tokens: too few for one passage of ${passageTokens} after ${offset}`);

    const context = await createSparqContext(model, {contextSize, threads: options.threads});
    const meters = resolved.map((s) => new TransferMeter(s.params, shape.headDim, context.contextSize));
    const seconds = resolved.map(() => 0);
    const sampleResults: RepeatSample[] = [];
    const maxChars: number[] = [];
    let prefillSeconds = 0;
    try {
        for (const start of starts) {
            const passage = tokens.slice(start, start + passageTokens);
            const reference = passage.slice(cueTokens, cueTokens + maxTokens);
            const referenceText = model.detokenize(reference);
            maxChars.push(referenceText.length);
            const run = await greedyForSettings(context, resolved, {
                context: withBos(model, passage),
                question: [...separator, ...passage.slice(0, cueTokens)]
            }, {
                maxTokens,
                stop: (generated) => generated.at(-1) !== reference[generated.length - 1]
            });
            prefillSeconds += run.prefillSeconds;
            const sample: RepeatSample = {start, matchedChars: [], matchedTokens: []};
            run.results.forEach((r, i) => {
                sample.matchedTokens.push(matchingPrefixLength(r.tokens, reference));
                sample.matchedChars.push(matchingPrefixLength(model.detokenize(r.tokens), referenceText));
                for (const visible of r.stepLengths)
                    meters[i]!.step(visible);
                seconds[i]! += r.seconds;
            });
            sampleResults.push(sample);
            log(`passage ${sampleResults.length}/${starts.length} (tokens ${start}..${start + passageTokens}): ` +
                resolved.map((s, i) => `${s.label} ${sample.matchedChars[i]}/${referenceText.length} chars`).join(", "));
        }
    } finally {
        await context.dispose();
    }
    return {
        samples: sampleResults,
        passageTokens, cueTokens, maxTokens, maxChars, prefillSeconds,
        settings: resolved.map((s, i) => ({
            label: s.label,
            sparq: s.sparq,
            meanMatchedChars: mean(sampleResults.map((x) => x.matchedChars[i]!)),
            meanMatchedTokens: mean(sampleResults.map((x) => x.matchedTokens[i]!)),
            fullMatches: sampleResults.filter((x) => x.matchedTokens[i] === maxTokens).length,
            transferFraction: meters[i]!.meanFraction,
            transferBytesFraction: meters[i]!.bytesFraction,
            decodeSteps: meters[i]!.stepCount,
            seconds: seconds[i]!
        }))
    };
}

export function repeatTable(result: RepeatResult): EvalTable {
    return {
        headers: ["setting", "matched chars", "matched tokens", `full ${result.maxTokens}-token matches`, "attn transfer", "bytes-weighted", "decode steps", "wall s (decode)"],
        rows: result.settings.map((s) => [
            s.label, s.meanMatchedChars.toFixed(1), s.meanMatchedTokens.toFixed(1), `${s.fullMatches}/${result.samples.length}`,
            s.transferFraction.toFixed(3), s.transferBytesFraction.toFixed(3), String(s.decodeSteps), s.seconds.toFixed(1)
        ])
    };
}

export function repeatPlot(result: RepeatResult, modelName: string): EvalPlot {
    return {
        title: `Text repetition vs attention transfer: ${modelName}, passages of ${result.passageTokens} tokens`,
        xLabel: "attention-transfer fraction (1 = dense)",
        yLabel: "mean matched characters",
        points: settingsPlotPoints(result.settings.map((s) => ({label: s.label, x: s.transferFraction, y: s.meanMatchedChars})))
    };
}
