import {describe, expect, it} from "vitest";
import {parseGpuBackend} from "../src/build/toolchain.js";
import {parseCmakeOptions} from "../src/cli/options.js";
import {cliFailure as failure} from "./helpers.js";
import {chooseModel, defaultModelUri, isModelUri} from "../src/models/resolve.js";

describe("sparq CLI validation", () => {
    it("rejects an unknown --gpu value, naming the accepted ones", async () => {
        expect((await failure(["build", "--gpu", "rocm"])).message).toMatch(/unknown --gpu value "rocm".*cpu.*cuda/);
        expect((await failure(["generate", "--gpu", "metal", "-m", "x.gguf"])).message).toMatch(/unknown --gpu value "metal"/);
        expect(parseGpuBackend("cuda")).toBe("cuda");
        expect(parseGpuBackend("cpu")).toBe(false);
    });

    it("rejects bad generate flags by name", async () => {
        expect((await failure(["generate", "--tokens", "0"])).message).toMatch(/--tokens must be a positive integer/);
        expect((await failure(["generate", "--temperature", "-1"])).message).toMatch(/--temperature must be >= 0/);
        expect((await failure(["generate", "--ctx", "8.5"])).message).toMatch(/--ctx must be an integer/);
        expect((await failure(["generate", "--dense-below", "32k"])).message).toMatch(/--dense-below applies to --sparq/);
        expect((await failure(["generate", "--sparq", "8", "--dense-below", "lots"])).message).toMatch(/--dense-below/);
    });

    it("reports a missing model file instead of crashing", async () => {
        expect((await failure(["generate", "-m", "/nonexistent/model.gguf"])).message).toBe("model file not found: /nonexistent/model.gguf");
    });

    it("rejects unknown commands and flags", async () => {
        expect((await failure(["frobnicate"])).message).toMatch(/Unknown argument|Unknown command/i);
        expect((await failure(["build", "--turbo"])).message).toMatch(/Unknown argument/i);
        expect((await failure([])).message).toMatch(/name a command/);
    });

    it("parses --cmake NAME=VALUE and rejects anything else", () => {
        expect(parseCmakeOptions(["GGML_CUDA_F16=ON", "X="])).toEqual({GGML_CUDA_F16: "ON", X: ""});
        expect(() => parseCmakeOptions(["GGML_CUDA_F16"])).toThrow(/not NAME=VALUE/);
    });
});

describe("model choice", () => {
    it("prefers --model, then SPARQ_MODEL, then the default URI", () => {
        expect(chooseModel("a.gguf", {SPARQ_MODEL: "b.gguf"})).toBe("a.gguf");
        expect(chooseModel(undefined, {SPARQ_MODEL: "b.gguf"})).toBe("b.gguf");
        expect(chooseModel(undefined, {})).toBe(defaultModelUri);
        expect(isModelUri(defaultModelUri)).toBe(true);
        expect(isModelUri("./models/hf:weird.gguf")).toBe(false);
    });
});
