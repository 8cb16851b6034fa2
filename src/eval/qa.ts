/**
 * 1-shot extractive QA on a SQuAD v1.1 file, scored by exact match and F1 (SQuAD normalisation, best
 * over the gold answers). Prompt: one worked example (the first question of the first paragraph),
 * then the paragraph, then the question:
 *
 *     {example paragraph}\nQuestion: {q}\nAnswer: {a}\n\n{paragraph}\nQuestion: {q}\nAnswer:
 *
 * Everything up to the paragraph is prefilled densely; "\nQuestion: ...\nAnswer:" is fed one decode
 * step per token and the answer generated greedily up to a newline. The long-context variant pads the
 * paragraph with other paragraphs of the file (in a seeded random order, the right one at a seeded
 * random place among them) up to N tokens.
 */
import type {LlamaModel, Token} from "node-llama-cpp";
import {createSparqContext, getModelAttentionShape} from "../sparq/context.js";
import {seededRandom} from "../random.js";
import {withBos, type SquadParagraph, type SquadQuestion} from "./data.js";
import {greedyForSettings} from "./generation.js";
import {exactMatch, f1Score, maxOverGold} from "./metrics.js";
import {settingsPlotPoints, type EvalPlot, type EvalTable} from "./report.js";
import {resolveEvalSettings, type EvalSetting} from "./settings-list.js";
import {TransferMeter} from "./transfer.js";

export type QaOptions = {
    /** Questions to score at most (after the worked example). */
    questions: number,
    /** Pad each paragraph with others to about this many prompt tokens (the long-context variant). */
    longContext?: number,
    /** Context size of the model's context (default: the long-context length, else the model's, at most 2048). */
    contextSize?: number,
    answerTokens?: number,
    seed?: number,
    threads?: number,
    log?: (line: string) => void
};

export type QaItem = {id: string, question: string, answers: string[], promptTokens: number, predictions: string[]};

export type QaSettingResult = {
    label: string,
    sparq: EvalSetting["sparq"],
    /** Mean exact match and F1, in % (0-100). */
    exactMatch: number,
    f1: number,
    agreementWithDense: number | null,
    transferFraction: number,
    transferBytesFraction: number,
    decodeSteps: number,
    seconds: number
};

export type QaResult = {
    questionsScored: number,
    questionsSkipped: number,
    longContext: number | null,
    meanPromptTokens: number,
    prefillSeconds: number,
    example: {question: string, answer: string},
    items: QaItem[],
    settings: QaSettingResult[]
};

const block = (context: string, q: string) => `${context}\nQuestion: ${q}\nAnswer:`;

/** The answer in a generated continuation: up to the first newline, trimmed. */
export function extractAnswer(generated: string): string {
    return generated.split("\n")[0]!.trim();
}

export async function runQa(model: LlamaModel, settings: readonly EvalSetting[], paragraphs: readonly SquadParagraph[],
    options: QaOptions): Promise<QaResult> {
    const {questions, longContext, answerTokens = 24, seed = 1234, log = () => {}} = options;
    const contextSize = options.contextSize ?? longContext ?? Math.min(model.trainContextSize, 2048);
    if (contextSize > model.trainContextSize)
        throw new Error(`a context of ${contextSize} tokens exceeds the model's training context (${model.trainContextSize})`);
    const shape = getModelAttentionShape(model);
    const resolved = resolveEvalSettings(settings, shape);
    const exampleParagraph = paragraphs[0]!;
    const exampleQa = exampleParagraph.qas[0];
    if (exampleQa == null)
        throw new Error("the first paragraph of the file has no question to serve as the worked example");
    const shot = `${block(exampleParagraph.context, exampleQa.question)} ${exampleQa.answers[0]}\n\n`;
    const candidates: Array<{paragraph: SquadParagraph, index: number, qa: SquadQuestion}> = paragraphs.slice(1)
        .flatMap((paragraph, i) => paragraph.qas.map((qa) => ({paragraph, index: i + 1, qa})));
    if (candidates.length === 0)
        throw new Error("the file has no questions besides the worked example");
    const random = seededRandom(seed);

    const context = await createSparqContext(model, {contextSize, threads: options.threads});
    const meters = resolved.map((s) => new TransferMeter(s.params, shape.headDim, context.contextSize));
    const seconds = resolved.map(() => 0);
    const items: QaItem[] = [];
    let skipped = 0;
    let prefillSeconds = 0;
    try {
        for (const {paragraph, index, qa} of candidates) {
            if (items.length >= questions)
                break;
            const question = model.tokenize(`\nQuestion: ${qa.question}\nAnswer:`);
            let passage = paragraph.context;
            if (longContext != null) {
                const others = paragraphs.filter((_, i) => i !== index && i !== 0).map((p) => p.context);
                for (let i = others.length - 1; i > 0; i--) {
                    const j = Math.floor(random() * (i + 1));
                    [others[i], others[j]] = [others[j]!, others[i]!];
                }
                // a margin of 8 tokens: pieces tokenised apart may come out a little shorter than joined
                const budget = longContext - question.length - answerTokens - model.tokenize(shot).length - 1 - 8;
                const chosen: string[] = [];
                let used = model.tokenize(passage).length;
                for (const other of others) {
                    const cost = model.tokenize(`${other}\n\n`).length;
                    if (used + cost > budget)
                        continue;
                    chosen.push(other);
                    used += cost;
                }
                chosen.splice(Math.floor(random() * (chosen.length + 1)), 0, paragraph.context);
                passage = chosen.join("\n\n");
            }
            const prefix: Token[] = withBos(model, model.tokenize(shot + passage));
            if (prefix.length + question.length + answerTokens > context.contextSize) {
                skipped++;
                continue;
            }
            const run = await greedyForSettings(context, resolved, {context: prefix, question}, {
                maxTokens: answerTokens,
                stop: (tokens) => model.detokenize(tokens as Token[]).includes("\n")
            });
            prefillSeconds += run.prefillSeconds;
            const predictions = run.results.map((r, i) => {
                for (const visible of r.stepLengths)
                    meters[i]!.step(visible);
                seconds[i]! += r.seconds;
                return extractAnswer(model.detokenize(r.tokens));
            });
            items.push({id: qa.id, question: qa.question, answers: qa.answers, promptTokens: prefix.length + question.length, predictions});
            log(`question ${items.length}/${questions} (${prefix.length + question.length} tokens): ` +
                resolved.map((s, i) => `${s.label} ${JSON.stringify(predictions[i])}`).join(", ") + ` gold ${JSON.stringify(qa.answers[0])}`);
        }
    } finally {
        await context.dispose();
    }
    if (items.length === 0)
        throw new Error(`no question fits a context of ${context.contextSize} tokens (${skipped} skipped)`);
    const denseIndex = resolved.findIndex((s) => s.params == null);
    const results = resolved.map((s, i): QaSettingResult => ({
        label: s.label,
        sparq: s.sparq,
        exactMatch: 100 * items.reduce((a, it) => a + maxOverGold(exactMatch, it.predictions[i]!, it.answers), 0) / items.length,
        f1: 100 * items.reduce((a, it) => a + maxOverGold(f1Score, it.predictions[i]!, it.answers), 0) / items.length,
        agreementWithDense: denseIndex < 0 ? null
            : items.filter((it) => it.predictions[i] === it.predictions[denseIndex]).length / items.length,
        transferFraction: meters[i]!.meanFraction,
        transferBytesFraction: meters[i]!.bytesFraction,
        decodeSteps: meters[i]!.stepCount,
        seconds: seconds[i]!
    }));
    return {
        questionsScored: items.length,
        questionsSkipped: skipped,
        longContext: longContext ?? null,
        meanPromptTokens: items.reduce((a, it) => a + it.promptTokens, 0) / items.length,
        prefillSeconds,
        example: {question: exampleQa.question, answer: exampleQa.answers[0]!},
        items,
        settings: results
    };
}

export function qaTable(result: QaResult): EvalTable {
    return {
        headers: ["setting", "EM", "F1", "same answer as dense", "attn transfer", "bytes-weighted", "decode steps", "wall s (decode)"],
        rows: result.settings.map((s) => [
            s.label, s.exactMatch.toFixed(1), s.f1.toFixed(1),
            s.agreementWithDense == null ? "-" : `${(s.agreementWithDense * 100).toFixed(0)}%`,
            s.transferFraction.toFixed(3), s.transferBytesFraction.toFixed(3), String(s.decodeSteps), s.seconds.toFixed(1)
        ])
    };
}

export function qaPlot(result: QaResult, modelName: string): EvalPlot {
    return {
        title: `SQuAD 1-shot F1 vs attention transfer: ${modelName}${result.longContext != null ? `, padded to ${result.longContext} tokens` : ""}`,
        xLabel: "attention-transfer fraction (1 = dense)",
        yLabel: "F1 (%)",
        yDomain: [0, 100],
        points: settingsPlotPoints(result.settings.map((s) => ({label: s.label, x: s.transferFraction, y: s.f1})))
    };
}
