/**
 * Token histories that grow in place.
 *
 * node-llama-cpp (3.22) keeps each sequence's tokens in the sequence's `_contextTokens` array and,
 * after every decode, replaces it with `_contextTokens.concat(decoded)`: a copy of the whole history
 * per generated token. At 128k tokens that copy cost 1.1-1.3 ms per step on an H100 machine's host
 * (`scripts/device/host-steps.mjs`), about a tenth of a dense decode step and more of a SparQ one.
 *
 * For the sequences of a context passed to `appendTokensInPlace`, the history array's `concat`
 * appends to the array itself and returns it, so that assignment keeps the same array; an accessor
 * gives every array the sequence later stores (a loaded state, a restored checkpoint, a copy of
 * another sequence) the same `concat`. What the sequence holds and reports (`contextTokens`) is
 * unchanged. Where a future node-llama-cpp keeps its history elsewhere, sequences are left as they
 * are.
 */
import type {LlamaContext, LlamaContextSequence, Token} from "node-llama-cpp";

const historyField = "_contextTokens";

function appendInPlace(this: Token[], ...items: Array<Token | readonly Token[]>): Token[] {
    for (const item of items) {
        if (Array.isArray(item)) {
            for (const token of item as readonly Token[])
                this.push(token);
        } else
            this.push(item as Token);
    }
    return this;
}

function growingInPlace(tokens: Token[]): Token[] {
    if (!Object.hasOwn(tokens, "concat"))
        Object.defineProperty(tokens, "concat", {value: appendInPlace, writable: true, configurable: true});
    return tokens;
}

/** Makes `sequence`'s token history grow in place; false where it does not hold one as expected. */
export function appendSequenceTokensInPlace(sequence: LlamaContextSequence): boolean {
    const descriptor = Object.getOwnPropertyDescriptor(sequence, historyField);
    if (descriptor?.get != null)
        return true; // done before
    if (descriptor == null || !Array.isArray(descriptor.value) || !descriptor.configurable)
        return false;
    let tokens = growingInPlace(descriptor.value);
    Object.defineProperty(sequence, historyField, {
        get: () => tokens,
        set: (value: Token[]) => {
            tokens = Array.isArray(value) ? growingInPlace(value) : value;
        },
        enumerable: descriptor.enumerable,
        configurable: true
    });
    return true;
}

/** Every sequence `context.getSequence()` hands out from now on keeps its token history growing in place; returns the context. */
export function appendTokensInPlace(context: LlamaContext): LlamaContext {
    const getSequence = context.getSequence.bind(context);
    context.getSequence = (...args: Parameters<LlamaContext["getSequence"]>) => {
        const sequence = getSequence(...args);
        appendSequenceTokensInPlace(sequence);
        return sequence;
    };
    return context;
}
