import {describe, expect, it} from "vitest";
import type {LlamaContextSequence, Token} from "node-llama-cpp";
import {stories260K, useSparqModel} from "../helpers.js";

// The addon samples every sequence from one candidates buffer per sampling thread
// (patches/addon/0004): sequences sampled at the same time must not see each other's logits.
describe("greedy sampling of sequences decoded together (addon candidates buffer)", () => {
    const loaded = useSparqModel(stories260K);

    const argmax = (logits: Map<Token, number>) =>
        [...logits.entries()].reduce((best, entry) => (entry[1] > best[1] ? entry : best))[0];

    it("gives each sequence the argmax of its own logits", async () => {
        const {model} = loaded;
        const context = await model.createContext({contextSize: 256, sequences: 4, threads: 2});
        try {
            const prompts = ["Once upon a time", "The cat", "Lily and Ben went to the park", "He was sad"].map((text) => model.tokenize(text));
            const sequences = prompts.map(() => context.getSequence());
            await Promise.all(sequences.map((sequence, i) => sequence.evaluateWithoutGeneratingNewTokens(prompts[i]!.slice(0, -1))));
            const step = (generateNext: {token: true} | {logits: true}) => Promise.all(sequences.map((sequence: LlamaContextSequence, i) =>
                sequence.controlledEvaluate([[prompts[i]!.at(-1)!, {generateNext}]])));

            // the same decode twice (same batch, same cells): once sampling, once returning the logits
            const sampled = (await step({token: true})).map(([result]) => result!.next.token!);
            await Promise.all(sequences.map((sequence) => sequence.eraseContextTokenRanges([{start: sequence.nextTokenIndex - 1, end: sequence.nextTokenIndex}])));
            const expected = (await step({logits: true})).map(([result]) => argmax(result!.next.logits!));

            expect(new Set(expected).size).toBeGreaterThan(1);
            expect(sampled).toEqual(expected);
        } finally {
            await context.dispose();
        }
    });
});
