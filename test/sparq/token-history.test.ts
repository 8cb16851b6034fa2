import {describe, expect, it} from "vitest";
import type {LlamaContext, LlamaContextSequence, Token} from "node-llama-cpp";
import {createSparqContext} from "../../src/sparq/context.js";
import {appendSequenceTokensInPlace} from "../../src/sparq/token-history.js";
import {appendTokensInPlace} from "../../src/index.js";
import {stories260K, useSparqModel} from "../helpers.js";

/** The array node-llama-cpp keeps a sequence's history in (internal: what the fix works on). */
const historyArray = (sequence: LlamaContextSequence) => (sequence as unknown as {_contextTokens: Token[]})._contextTokens;

describe("token histories that grow in place", () => {
    const loaded = useSparqModel(stories260K);

    /** Prompt, 6 greedy steps, an erase in the middle, a state fork and 3 more steps: the history and the tokens generated. */
    async function session(context: LlamaContext, onStep?: (sequence: LlamaContextSequence) => void) {
        const sequence = context.getSequence();
        const prompt = loaded.model.tokenize("Once upon a time, there was a little");
        await sequence.evaluateWithoutGeneratingNewTokens(prompt);
        const generated: Token[] = [];
        let next = prompt.at(-1)!;
        const step = async () => {
            const [result] = await sequence.controlledEvaluate([[next, {generateNext: {token: true}}]]);
            next = result!.next.token!;
            generated.push(next);
            onStep?.(sequence);
        };
        for (let i = 0; i < 6; i++)
            await step();
        await sequence.eraseContextTokenRanges([{start: 3, end: 6}]);
        const fork = context.getSequence();
        await fork.controlledEvaluate([prompt[0]!]);
        await fork.eraseContextTokenRanges([{start: 0, end: fork.nextTokenIndex}]);
        for (let i = 0; i < 3; i++)
            await step();
        return {history: sequence.contextTokens, generated};
    }

    it("appends each decode to the same array and holds what a stock context holds", async () => {
        const stock = await loaded.model.createContext({contextSize: 256, sequences: 2, flashAttention: true, threads: 2});
        const ours = await createSparqContext(loaded.model, {contextSize: 256, sequences: 2, threads: 2});
        try {
            const expected = await session(stock);
            let copies = 0;
            let last: Token[] | undefined;
            const got = await session(ours, (sequence) => {
                const array = historyArray(sequence);
                if (last != null && array !== last)
                    copies++;
                last = array;
            });
            expect(got).toEqual(expected);
            // never a new array: not per step, nor at the erase (spliced in place)
            expect(copies).toBe(0);
        } finally {
            await ours.dispose();
            await stock.dispose();
        }
    });

    it("lets a plain model.createContext() context opt in through the public API", async () => {
        const stock = await loaded.model.createContext({contextSize: 256, sequences: 2, threads: 2});
        const plain = appendTokensInPlace(await loaded.model.createContext({contextSize: 256, sequences: 2, threads: 2}));
        try {
            const expected = await session(stock);
            const arrays = new Set<Token[]>();
            const got = await session(plain, (sequence) => arrays.add(historyArray(sequence)));
            expect(got).toEqual(expected);
            expect(arrays.size).toBe(1);
        } finally {
            await plain.dispose();
            await stock.dispose();
        }
    });

    it("leaves a sequence that holds no history array as it is", () => {
        const fake = {} as LlamaContextSequence;
        expect(appendSequenceTokensInPlace(fake)).toBe(false);
        expect(Object.getOwnPropertyDescriptor(fake, "_contextTokens")).toBeUndefined();
    });
});
