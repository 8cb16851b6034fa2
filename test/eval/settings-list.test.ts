import {describe, expect, it} from "vitest";
import {parseSettingsList, resolveEvalSettings, SettingsListError} from "../../src/eval/settings-list.js";

const labels = (spec: string, defaults = {}) => parseSettingsList(spec, defaults).map((s) => s.label);

describe("--settings lists", () => {
    it("parses dense, ratios and absolute r/k with modifiers", () => {
        const settings = parseSettingsList("dense, ratio:8,ratio:2.5,r64k128,r16k64l8,ratio:8/no-realloc,ratio:4/kmin=16/per-head");
        expect(settings.map((s) => s.label)).toEqual(
            ["dense", "ratio:8", "ratio:2.5", "r64k128", "r16k64l8", "ratio:8/no-realloc", "ratio:4/kmin=16/per-head"]);
        expect(settings[0]!.sparq).toBe(false);
        expect(settings[1]!.sparq).toEqual({ratio: 8, meanRealloc: true, denseBelow: 0});
        expect(settings[3]!.sparq).toEqual({r: 64, k: 128, meanRealloc: true, denseBelow: 0});
        expect(settings[4]!.sparq).toEqual({r: 16, k: 64, l: 8, meanRealloc: true, denseBelow: 0});
        expect(settings[5]!.sparq).toEqual({ratio: 8, meanRealloc: false, denseBelow: 0});
        expect(settings[6]!.sparq).toEqual({ratio: 4, kMin: 16, gqa: "per-head", meanRealloc: true, denseBelow: 0});
    });

    it("applies --layers and --no-mean-realloc to every SparQ item; /realloc overrides", () => {
        const settings = parseSettingsList("dense,ratio:8,ratio:8/realloc", {layers: "2-", meanRealloc: false});
        expect(settings.map((s) => s.label)).toEqual(["dense", "ratio:8/no-realloc", "ratio:8"]);
        expect(settings[1]!.sparq).toEqual({ratio: 8, meanRealloc: false, denseBelow: 0, layers: "2-"});
        expect(settings[2]!.sparq).toEqual({ratio: 8, meanRealloc: true, denseBelow: 0, layers: "2-"});
    });

    it("names the bad item", () => {
        const error = (spec: string) => {
            try {
                parseSettingsList(spec);
            } catch (err) {
                expect(err).toBeInstanceOf(SettingsListError);
                return (err as Error).message;
            }
            return "no error";
        };
        expect(error("")).toMatch(/--settings is empty/);
        expect(error("dense,,ratio:8")).toMatch(/item 2 of "dense,,ratio:8" is empty/);
        expect(error("dense,sparse")).toMatch(/item "sparse" is not a setting: expected dense, ratio:C/);
        expect(error("ratio:0.5")).toMatch(/"ratio:0.5": the ratio must be a number >= 1, got "0.5"/);
        expect(error("ratio:x")).toMatch(/the ratio must be a number >= 1, got "x"/);
        expect(error("r0k8")).toMatch(/"r0k8": r must be an integer >= 1, got "0"/);
        expect(error("r8k")).toMatch(/"r8k": k must be an integer >= 1, got ""/);
        expect(error("r8k4l5")).toMatch(/l = 5 must not exceed k = 4/);
        expect(error("ratio:8,ratio:8.0")).toMatch(/lists ratio:8 twice/);
        expect(error("dense/no-realloc")).toMatch(/dense takes no modifiers/);
        expect(error("ratio:8/fast")).toMatch(/unknown modifier "\/fast"/);
        expect(error("r8k4/kmin=2")).toMatch(/kmin only applies to ratio:C/);
        expect(error("ratio:8/kmin=0")).toMatch(/kmin must be an integer >= 1, got "0"/);
        expect(error("ratio:8/no-realloc/realloc")).toMatch(/"realloc" is given twice/);
    });

    it("checks settings against the model before anything runs", () => {
        const shape = {layerCount: 4, headDim: 16};
        const resolved = resolveEvalSettings(parseSettingsList("dense,ratio:4,r8k32", {layers: "1-"}), shape);
        expect(resolved[0]!.params).toBeNull();
        expect(resolved[1]!.params).toMatchObject({ratio: 4, layers: [false, true, true, true]});
        expect(() => resolveEvalSettings(parseSettingsList("r32k8"), shape)).toThrow(/item "r32k8": .*r.*32 is out of range \[1, 16\]/);
        expect(() => resolveEvalSettings(parseSettingsList("ratio:8", {layers: "0-7"}), shape)).toThrow(/item "ratio:8": .*layer 7 does not exist/);
        expect(labels("dense")).toEqual(["dense"]);
    });
});
