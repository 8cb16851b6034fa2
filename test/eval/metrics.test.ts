import {describe, expect, it} from "vitest";
import {deltaPercent, exactMatch, f1Score, logProbability, matchingPrefixLength, maxOverGold, mean, normalizeAnswer, passkeyCorrect, perplexity}
    from "../../src/eval/metrics.js";
import {pairedDeltaInterval} from "../../src/eval/perplexity.js";
import {extractAnswer} from "../../src/eval/qa.js";

describe("perplexity from logits", () => {
    it("log-softmax of hand-computed logits", () => {
        // logits [0, ln 2, ln 5]: softmax = [1/8, 2/8, 5/8]
        const logits = Float32Array.from([0, Math.log(2), Math.log(5)]);
        expect(logProbability(logits, 0)).toBeCloseTo(Math.log(1 / 8), 6);
        expect(logProbability(logits, 2)).toBeCloseTo(Math.log(5 / 8), 6);
        // shifting every logit changes nothing; huge logits do not overflow
        expect(logProbability([1000, 1000 + Math.log(3)], 1)).toBeCloseTo(Math.log(3 / 4), 9);
        expect(() => logProbability(logits, 3)).toThrow(RangeError);
    });

    it("PPL = exp(mean NLL)", () => {
        // uniform over 4 tokens: PPL 4 whatever the targets
        const uniform = [0, 0, 0, 0];
        expect(perplexity([logProbability(uniform, 1), logProbability(uniform, 3)])).toBeCloseTo(4, 9);
        // p = 1/2 then 1/8: mean NLL = (ln 2 + ln 8)/2 = 2 ln 2, PPL 4
        expect(perplexity([Math.log(1 / 2), Math.log(1 / 8)])).toBeCloseTo(4, 9);
        // targets 2 then 0 under the logits above: p = 5/8 and 1/8
        const logits = [0, Math.log(2), Math.log(5)];
        expect(perplexity([logProbability(logits, 2), logProbability(logits, 0)])).toBeCloseTo(1 / Math.sqrt((5 / 8) * (1 / 8)), 6);
        expect(() => perplexity([])).toThrow(RangeError);
        expect(deltaPercent(101, 100)).toBeCloseTo(1, 9);
        expect(deltaPercent(95, 100)).toBeCloseTo(-5, 9);
    });

    it("paired interval of the PPL change", () => {
        // NLL differences 0.1, -0.1, 0.2, 0: mean 0.05, sd sqrt(0.05/3), SE sqrt(0.05/12) = 0.0645497
        const reference = [-1, -1, -1, -1];
        const other = [-1.1, -0.9, -1.2, -1.0];
        const [low, high] = pairedDeltaInterval(reference, other);
        const se = Math.sqrt(0.05 / 12);
        expect(low).toBeCloseTo((Math.exp(0.05 - 1.96 * se) - 1) * 100, 9);
        expect(high).toBeCloseTo((Math.exp(0.05 + 1.96 * se) - 1) * 100, 9);
        expect(low).toBeCloseTo(-7.3663, 3);
        expect(high).toBeCloseTo(19.3055, 3);
        // the point estimate inside: PPL ratio exp(0.05)
        expect(deltaPercent(perplexity(other), perplexity(reference))).toBeCloseTo((Math.exp(0.05) - 1) * 100, 9);
        expect(pairedDeltaInterval(reference, reference)).toEqual([0, 0]);
        expect(() => pairedDeltaInterval([-1], [-1])).toThrow(RangeError);
    });
});

describe("SQuAD exact match and F1", () => {
    it("normalises like the official v1.1 script", () => {
        expect(normalizeAnswer("The  Eiffel Tower!")).toBe("eiffel tower");
        expect(normalizeAnswer("an apple, a pear and THE plum")).toBe("apple pear and plum");
        // articles only as whole words; punctuation removed before, so "the-end" becomes "theend"
        expect(normalizeAnswer("Theatre at thea")).toBe("theatre at thea");
        expect(normalizeAnswer("the-end")).toBe("theend");
        expect(normalizeAnswer("  1,000 km.\n")).toBe("1000 km");
    });

    it("exact match after normalisation, best over the gold answers", () => {
        expect(exactMatch("the Denver Broncos", "Denver Broncos")).toBe(1);
        expect(exactMatch("Denver Broncos.", "denver broncos")).toBe(1);
        expect(exactMatch("Broncos", "Denver Broncos")).toBe(0);
        expect(maxOverGold(exactMatch, "Broncos", ["Denver Broncos", "the Broncos"])).toBe(1);
        expect(() => maxOverGold(exactMatch, "x", [])).toThrow(RangeError);
    });

    it("token F1 on hand-computed cases", () => {
        // pred {denver}, gold {denver, broncos}: P = 1, R = 1/2, F1 = 2/3
        expect(f1Score("Denver", "Denver Broncos")).toBeCloseTo(2 / 3, 9);
        // pred {the, broncos, of, denver} -> {broncos, of, denver}; gold {denver, broncos}: common 2, P = 2/3, R = 1, F1 = 0.8
        expect(f1Score("the Broncos of Denver", "Denver Broncos")).toBeCloseTo(0.8, 9);
        // a repeated word counts once per occurrence: {san, san, francisco} vs {san, francisco}: common 2, P = 2/3, R = 1
        expect(f1Score("San San Francisco", "San Francisco")).toBeCloseTo(0.8, 9);
        expect(f1Score("Paris", "London")).toBe(0);
        // nothing left after normalisation: 0, as v1.1 scores it
        expect(f1Score("the", "a")).toBe(0);
        expect(maxOverGold(f1Score, "Denver", ["Broncos", "Denver Broncos", "Denver"])).toBe(1);
    });

    it("takes the answer up to the first newline", () => {
        expect(extractAnswer(" Denver Broncos\nQuestion: who")).toBe("Denver Broncos");
        expect(extractAnswer("\nfoo")).toBe("");
    });
});

describe("needle and repetition scoring", () => {
    it("a pass key is right when the answer's first number is the key", () => {
        expect(passkeyCorrect(" 48213. Remember it.", "48213")).toBe(true);
        expect(passkeyCorrect(" 48213", "48213")).toBe(true);
        expect(passkeyCorrect(" 482133.", "48213")).toBe(false);
        expect(passkeyCorrect(" 4821", "48213")).toBe(false);
        expect(passkeyCorrect(" 12345 or 48213", "48213")).toBe(false);
        expect(passkeyCorrect(" the key", "48213")).toBe(false);
    });

    it("matching prefix length of strings and token lists", () => {
        expect(matchingPrefixLength("The cat sat", "The car sat")).toBe(6);
        expect(matchingPrefixLength("abc", "abc")).toBe(3);
        expect(matchingPrefixLength("abc", "abcdef")).toBe(3);
        expect(matchingPrefixLength("", "abc")).toBe(0);
        expect(matchingPrefixLength([5, 7, 9, 1], [5, 7, 8])).toBe(2);
        expect(matchingPrefixLength([1], [2])).toBe(0);
        expect(mean([1, 2, 6])).toBe(3);
    });
});
