/** The metrics of the eval tasks, as pure functions. */

/** log p(token) under the softmax of `logits`, in float64. */
export function logProbability(logits: ArrayLike<number>, token: number): number {
    if (!(token >= 0 && token < logits.length))
        throw new RangeError(`token ${token} is outside the ${logits.length} logits`);
    let max = -Infinity;
    for (let i = 0; i < logits.length; i++)
        max = Math.max(max, logits[i]!);
    let sum = 0;
    for (let i = 0; i < logits.length; i++)
        sum += Math.exp(logits[i]! - max);
    return logits[token]! - max - Math.log(sum);
}

/** Perplexity exp(mean NLL) of the tokens whose log-probabilities are given (natural log). */
export function perplexity(logProbs: ArrayLike<number>): number {
    if (logProbs.length === 0)
        throw new RangeError("perplexity of no tokens");
    let sum = 0;
    for (let i = 0; i < logProbs.length; i++)
        sum += logProbs[i]!;
    return Math.exp(-sum / logProbs.length);
}

/** Relative change of `value` against `reference`, in percent. */
export function deltaPercent(value: number, reference: number): number {
    return ((value - reference) / reference) * 100;
}

// SQuAD v1.1's official normalisation: lower case, drop punctuation (Python's string.punctuation),
// drop the articles a/an/the, collapse whitespace.
const punctuation = new Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");

export function normalizeAnswer(text: string): string {
    const lower = text.toLowerCase();
    const noPunctuation = Array.from(lower).filter((ch) => !punctuation.has(ch)).join("");
    const noArticles = noPunctuation.replace(/\b(a|an|the)\b/g, " ");
    return noArticles.split(/\s+/).filter((w) => w !== "").join(" ");
}

/** 1 if prediction and gold are equal after normalisation, else 0. */
export function exactMatch(prediction: string, gold: string): number {
    return normalizeAnswer(prediction) === normalizeAnswer(gold) ? 1 : 0;
}

/** Token-level F1 of SQuAD v1.1 (bag of normalised words; 0 when nothing is shared). */
export function f1Score(prediction: string, gold: string): number {
    const predTokens = normalizeAnswer(prediction).split(" ").filter((t) => t !== "");
    const goldTokens = normalizeAnswer(gold).split(" ").filter((t) => t !== "");
    const goldCounts = new Map<string, number>();
    for (const t of goldTokens)
        goldCounts.set(t, (goldCounts.get(t) ?? 0) + 1);
    let same = 0;
    for (const t of predTokens) {
        const left = goldCounts.get(t) ?? 0;
        if (left > 0) {
            same++;
            goldCounts.set(t, left - 1);
        }
    }
    if (same === 0)
        return 0;
    const precision = same / predTokens.length;
    const recall = same / goldTokens.length;
    return (2 * precision * recall) / (precision + recall);
}

/** A metric's best value over the gold answers, as SQuAD scores a question. */
export function maxOverGold(metric: (prediction: string, gold: string) => number, prediction: string, golds: readonly string[]): number {
    if (golds.length === 0)
        throw new RangeError("no gold answers");
    return Math.max(...golds.map((gold) => metric(prediction, gold)));
}

/** Whether a generated answer to "The pass key is" gives the key: its first run of digits equals it. */
export function passkeyCorrect(generated: string, key: string): boolean {
    const first = /\d+/.exec(generated);
    return first != null && first[0] === key;
}

/** Length of the longest common prefix of two strings, in UTF-16 code units (characters for text without astral symbols). */
export function matchingPrefixLength(a: string, b: string): number;
/** Length of the longest common prefix of two token sequences. */
export function matchingPrefixLength(a: readonly number[], b: readonly number[]): number;
export function matchingPrefixLength(a: string | readonly number[], b: string | readonly number[]): number {
    const n = Math.min(a.length, b.length);
    let i = 0;
    while (i < n && a[i] === b[i])
        i++;
    return i;
}

/** Mean of a list (NaN for an empty one). */
export function mean(values: readonly number[]): number {
    return values.length === 0 ? NaN : values.reduce((s, v) => s + v, 0) / values.length;
}
