import {describe, expect, it} from "vitest";
import {parseModes, parsePositiveIntegerList, parseSparqSpec, parseTokenCount, parseTokenCountList} from "../../src/bench/options.js";

describe("token counts", () => {
    it("reads integers and k = 1024", () => {
        expect(parseTokenCount("512", "--ctx")).toBe(512);
        expect(parseTokenCount("1k", "--ctx")).toBe(1024);
        expect(parseTokenCount("16K", "--ctx")).toBe(16_384);
        expect(parseTokenCount("1.5k", "--ctx")).toBe(1536);
        expect(parseTokenCountList("1k, 4k,16k", "--ctx")).toEqual([1024, 4096, 16_384]);
    });

    it("names the flag and the bad value", () => {
        expect(() => parseTokenCount("1q", "--ctx")).toThrow('--ctx "1q" is not a token count (e.g. 512, 1k, 16k)');
        expect(() => parseTokenCount("1.3", "--ctx")).toThrow(/"1.3" is not a token count/);
        expect(() => parseTokenCount("-4", "--ctx")).toThrow(/not a token count/);
        expect(() => parseTokenCount("8", "--ctx", 16)).toThrow("--ctx 8 is too small: at least 16 tokens");
        expect(() => parseTokenCountList("1k,,4k", "--ctx")).toThrow(/comma-separated list/);
        expect(() => parseTokenCountList("1k,1024", "--ctx")).toThrow(/names 1024 tokens twice/);
    });

    it("reads positive integer lists", () => {
        expect(parsePositiveIntegerList("1,8", "--batch")).toEqual([1, 8]);
        expect(() => parsePositiveIntegerList("1,0", "--batch")).toThrow(/"0" is not a positive integer/);
        expect(() => parsePositiveIntegerList("2.5", "--batch")).toThrow(/"2.5" is not a positive integer/);
    });
});

describe("SparQ specs and modes", () => {
    it("reads a ratio or r,k", () => {
        expect(parseSparqSpec("8", "--sparq")).toEqual({ratio: 8});
        expect(parseSparqSpec("1.5", "--sparq")).toEqual({ratio: 1.5});
        expect(parseSparqSpec("16,256", "--sparq", "2-")).toEqual({r: 16, k: 256, layers: "2-"});
        expect(() => parseSparqSpec("0.5", "--sparq")).toThrow(/--sparq "0.5": the ratio must be >= 1/);
        expect(() => parseSparqSpec("0,12", "--sparq")).toThrow(/r and k must be >= 1/);
        expect(() => parseSparqSpec("fast", "--sparq")).toThrow(/--sparq "fast": it is not a ratio .* or r,k/);
    });

    it("reads modes, joining sparq:R,K across the list separator", () => {
        expect(parseModes("dense,sparq:8,sparq:4")).toEqual([
            {label: "dense", sparq: false}, {label: "sparq:8", sparq: {ratio: 8}}, {label: "sparq:4", sparq: {ratio: 4}}
        ]);
        expect(parseModes("sparq:16,256,dense").map((mode) => [mode.label, mode.sparq]))
            .toEqual([["sparq:16,256", {r: 16, k: 256}], ["dense", false]]);
        expect(parseModes("dense,sparq:8", "--modes", "1-").at(1)).toEqual({label: "sparq:8", sparq: {ratio: 8, layers: "1-"}});
    });

    it("rejects unknown, malformed and repeated modes", () => {
        expect(() => parseModes("dense,fast")).toThrow('--modes: unknown mode "fast": use dense, sparq:RATIO (e.g. sparq:8) or sparq:R,K (e.g. sparq:16,256)');
        expect(() => parseModes("dense,8")).toThrow(/unknown mode "8"/);
        expect(() => parseModes("sparq:0.5")).toThrow(/mode "sparq:0.5": the ratio must be >= 1/);
        expect(() => parseModes("sparq:x")).toThrow(/mode "sparq:x": it is not/);
        expect(() => parseModes("dense,sparq:8,sparq:8.0")).toThrow(/names sparq:8 twice/);
        expect(() => parseModes("")).toThrow(/unknown mode ""/);
    });
});
