/**
 * Greedy generation for the eval tasks, comparing several attention settings on one prompt: the
 * prompt's context part is prefilled once (dense, as SparQ leaves prefill dense), then for each
 * setting the question part is fed one decode step per token, the answer generated greedily, and
 * everything after the prefill erased again before the next setting.
 */
import type {LlamaContext, LlamaContextSequence, Token} from "node-llama-cpp";
import {setSparq} from "../sparq/context.js";
import {releaseSequence} from "./logits.js";
import type {ResolvedEvalSetting} from "./settings-list.js";

export type GreedyOptions = {
    /** Tokens to generate at most. */
    maxTokens: number,
    /** Stops early once this returns true for the tokens generated so far. */
    stop?: (generated: readonly Token[]) => boolean
};

export type GreedyResult = {
    /** Generated tokens (EOS excluded). */
    tokens: Token[],
    /** Decode steps run: question tokens and generated tokens fed back. */
    decodeSteps: number,
    /** Visible KV length of each decode step (for the transfer fraction). */
    stepLengths: number[],
    seconds: number
};

/**
 * Feeds `question` one token per decode step after whatever `sequence` holds, then generates greedily.
 * The first generated token comes from the last question token's step, or, when `question` is empty,
 * is `firstFromPrefill` (what the prefill's last row picked).
 */
async function continueGreedy(sequence: LlamaContextSequence, question: readonly Token[], options: GreedyOptions,
    firstFromPrefill: Token | null): Promise<GreedyResult> {
    const started = performance.now();
    const eos = sequence.model.tokens.eos;
    const generated: Token[] = [];
    const stepLengths: number[] = [];
    const greedy = {generateNext: {token: true, options: {temperature: 0}}} as const;
    const feed = async (token: Token, wantNext: boolean): Promise<Token | null> => {
        stepLengths.push(sequence.nextTokenIndex + 1);
        const [result] = await sequence.controlledEvaluate([wantNext ? [token, greedy] : token]);
        return wantNext ? (result?.next.token ?? null) : null;
    };
    let next: Token | null = firstFromPrefill;
    for (let i = 0; i < question.length; i++)
        next = await feed(question[i]!, i === question.length - 1);
    while (next != null && next !== eos && generated.length < options.maxTokens) {
        generated.push(next);
        if (generated.length >= options.maxTokens || options.stop?.(generated))
            break;
        next = await feed(next, true);
    }
    return {tokens: generated, decodeSteps: stepLengths.length, stepLengths, seconds: (performance.now() - started) / 1000};
}

/**
 * Runs every setting on one prompt: `context` is prefilled densely once, then each setting feeds
 * `question` token by token and generates. Results are in the order of `settings`. SparQ is left off
 * at the end. `context` must have been created by createSparqContext.
 */
export async function greedyForSettings(context: LlamaContext, settings: readonly ResolvedEvalSetting[], prompt: {
    context: readonly Token[],
    question: readonly Token[]
}, options: GreedyOptions): Promise<{prefillSeconds: number, results: GreedyResult[]}> {
    if (prompt.context.length === 0)
        throw new Error("the prompt's context part is empty");
    if (prompt.context.length + prompt.question.length + options.maxTokens > context.contextSize)
        throw new Error(`prompt (${prompt.context.length} + ${prompt.question.length} tokens) plus ${options.maxTokens} generated tokens ` +
            `exceed the context size ${context.contextSize}`);
    const sequence = context.getSequence();
    try {
        setSparq(context, false);
        const started = performance.now();
        const needFirst = prompt.question.length === 0;
        const evaluated = await sequence.controlledEvaluate([
            ...prompt.context.slice(0, -1),
            needFirst ? [prompt.context.at(-1)!, {generateNext: {token: true, options: {temperature: 0}}}] : prompt.context.at(-1)!
        ]);
        const firstToken = needFirst ? (evaluated.at(-1)?.next.token ?? null) : null;
        const prefillSeconds = (performance.now() - started) / 1000;
        const prefillLength = sequence.nextTokenIndex;

        const results: GreedyResult[] = [];
        for (const setting of settings) {
            setSparq(context, setting.sparq);
            results.push(await continueGreedy(sequence, prompt.question, options, firstToken));
            if (sequence.nextTokenIndex > prefillLength)
                await sequence.eraseContextTokenRanges([{start: prefillLength, end: sequence.nextTokenIndex}]);
        }
        return {prefillSeconds, results};
    } finally {
        setSparq(context, false);
        await releaseSequence(context, sequence);
    }
}
