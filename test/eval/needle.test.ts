import {describe, expect, it} from "vitest";
import {buildNeedlePrompt, grassFiller, needleQuestion, needleSentence} from "../../src/eval/needle.js";
import {stories260K, useSparqModel} from "../helpers.js";

describe("pass-key prompts", () => {
    const loaded = useSparqModel(stories260K);

    it("fills the context up to its size, the needle at the asked depth", () => {
        const oneSentence = loaded.model.tokenize(grassFiller[0]!).length;
        for (const depth of [0, 0.5, 1]) {
            const prompt = buildNeedlePrompt(loaded.model, {contextSize: 400, depth, key: "48213", answerTokens: 8});
            const total = prompt.context.length + prompt.question.length + 8;
            expect(total).toBeLessThanOrEqual(400);
            expect(total).toBeGreaterThan(400 - 3 * oneSentence);
            expect(prompt.question).toEqual(loaded.model.tokenize(needleQuestion));
            const text = loaded.model.detokenize(prompt.context);
            const at = text.indexOf(needleSentence("48213"));
            expect(at).toBeGreaterThanOrEqual(0);
            expect(prompt.needleSentenceIndex).toBe(Math.round(depth * prompt.fillerSentences));
            const before = text.slice(0, at);
            const after = text.slice(at + needleSentence("48213").length);
            if (depth === 0)
                expect(before.trim()).toBe("");
            if (depth === 1)
                expect(after.trim()).toBe("");
            if (depth === 0.5)
                expect(Math.abs(before.length - after.length)).toBeLessThan(0.1 * text.length);
        }
        expect(() => buildNeedlePrompt(loaded.model, {contextSize: 400, depth: 1.5, key: "1", answerTokens: 8})).toThrow(/depth 1.5/);
        expect(() => buildNeedlePrompt(loaded.model, {contextSize: 20, depth: 0, key: "48213", answerTokens: 8})).toThrow(/cannot hold/);
    });
});
