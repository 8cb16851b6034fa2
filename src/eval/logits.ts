import type {LlamaContext, LlamaContextSequence, Token} from "node-llama-cpp";

/**
 * Disposes a sequence and waits until its context can hand it out again: node-llama-cpp reclaims the
 * sequence id asynchronously, so a getSequence() right after dispose() finds none left.
 */
export async function releaseSequence(context: LlamaContext, sequence: LlamaContextSequence): Promise<void> {
    const before = context.sequencesLeft;
    sequence.dispose();
    const deadline = performance.now() + 5000;
    while (!context.disposed && context.sequencesLeft <= before && performance.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 1));
}

/**
 * Teacher-forced decoding: evaluates `tokens[0..prefill)` in one batch (dense prefill), then feeds
 * the rest one token per step, as generation does, and returns the next-token logits after the
 * prefill and after every step (indexed by token id). Uses a fresh sequence, disposed at the end.
 */
export async function decodeLogits(context: LlamaContext, tokens: readonly Token[], prefill: number): Promise<Float32Array[]> {
    if (prefill < 1 || prefill > tokens.length)
        throw new Error(`prefill = ${prefill} must be in [1, ${tokens.length}]`);
    const sequence = context.getSequence();
    const toArray = (logits: Map<Token, number> | undefined) => {
        if (logits == null)
            throw new Error("no logits were returned");
        // with no filter the map holds every token of the vocabulary
        const out = new Float32Array(logits.size);
        for (const [token, logit] of logits)
            out[token] = logit;
        return out;
    };
    try {
        const steps: Float32Array[] = [];
        const first = await sequence.controlledEvaluate([
            ...tokens.slice(0, prefill - 1),
            [tokens[prefill - 1]!, {generateNext: {logits: true}}]
        ]);
        steps.push(toArray(first.at(-1)?.next.logits));
        for (const token of tokens.slice(prefill)) {
            const [step] = await sequence.controlledEvaluate([[token, {generateNext: {logits: true}}]]);
            steps.push(toArray(step?.next.logits));
        }
        return steps;
    } finally {
        await releaseSequence(context, sequence);
    }
}

/** Per-position result of {@link decodeLogProbs}. */
export type TokenScores = {
    /** log p(tokens[prefill + i] | tokens[..prefill + i]) in nats, for every token after the prefill. */
    logProbs: Float64Array,
    /** The most likely token at each of those positions (what greedy decoding would pick). */
    argmax: Int32Array
};

/**
 * Like {@link decodeLogits} (dense prefill of `tokens[0..prefill)`, then one decode step per token),
 * but returns only what scoring needs: the log-probability of each following token and the argmax.
 * The first position is predicted by the prefill's last row, every other by a decode step. Asks
 * llama.cpp for the top logit, the target's logit and sum(exp(logit - max)) instead of the whole
 * vocabulary, which makes a step of a large-vocabulary model markedly cheaper.
 * `onStep(i)` runs after position i is scored.
 */
export async function decodeLogProbs(context: LlamaContext, tokens: readonly Token[], prefill: number,
    onStep?: (index: number) => void): Promise<TokenScores> {
    if (prefill < 1 || prefill >= tokens.length)
        throw new Error(`prefill = ${prefill} must be in [1, ${tokens.length - 1}]`);
    const sequence = context.getSequence();
    const count = tokens.length - prefill;
    const logProbs = new Float64Array(count);
    const argmax = new Int32Array(count);
    const request = (target: Token) => ({
        generateNext: {token: true, totalLogitWeight: true, logits: {filter: {tokens: [target], includeTop: 1}}, options: {temperature: 0}}
    } as const);
    const record = (index: number, next: {token?: Token | null, logits?: Map<Token, number>, totalLogitWeight?: number} | undefined) => {
        const target = tokens[prefill + index]!;
        const targetLogit = next?.logits?.get(target);
        if (next?.logits == null || targetLogit == null || next.totalLogitWeight == null || next.token == null)
            throw new Error("llama.cpp returned no logits for a scored position");
        const maxLogit = Math.max(...next.logits.values());
        logProbs[index] = targetLogit - maxLogit - Math.log(next.totalLogitWeight);
        argmax[index] = next.token;
        onStep?.(index);
    };
    try {
        const first = await sequence.controlledEvaluate([
            ...tokens.slice(0, prefill - 1),
            [tokens[prefill - 1]!, request(tokens[prefill]!)]
        ]);
        record(0, first.at(-1)?.next);
        for (let i = 1; i < count; i++) {
            const [step] = await sequence.controlledEvaluate([[tokens[prefill + i - 1]!, request(tokens[prefill + i]!)]]);
            record(i, step?.next);
        }
        return {logProbs, argmax};
    } finally {
        await releaseSequence(context, sequence);
    }
}

/** log-softmax of logits, in float64. */
function logSoftmax(logits: Float32Array): Float64Array {
    let max = -Infinity;
    for (const x of logits)
        max = Math.max(max, x);
    let sum = 0;
    for (const x of logits)
        sum += Math.exp(x - max);
    const logZ = max + Math.log(sum);
    return Float64Array.from(logits, (x) => x - logZ);
}

/** KL(p || q) in nats between the next-token distributions of two logit vectors. */
export function klDivergence(pLogits: Float32Array, qLogits: Float32Array): number {
    const lp = logSoftmax(pLogits);
    const lq = logSoftmax(qLogits);
    let kl = 0;
    for (let i = 0; i < lp.length; i++)
        kl += Math.exp(lp[i]!) * (lp[i]! - lq[i]!);
    return Math.max(0, kl);
}

/** Largest |a - b| relative to the largest |a|. */
export function maxRelativeDifference(a: Float32Array, b: Float32Array): number {
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < a.length; i++) {
        diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
        scale = Math.max(scale, Math.abs(a[i]!));
    }
    return diff / (scale || 1);
}
