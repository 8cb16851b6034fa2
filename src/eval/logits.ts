import type {LlamaContext, Token} from "node-llama-cpp";

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
        sequence.dispose();
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
