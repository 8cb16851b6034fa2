import type {CommandModule} from "yargs";
import {buildSparqLlama} from "../../build/compile.js";
import {parseGpuBackend} from "../../build/toolchain.js";
import {createBuildProgressPrinter} from "../progress.js";
import {parseCmakeOptions} from "../options.js";

type BuildArgs = {gpu: string, cmake: string[], rpc: boolean, force: boolean};

export const buildCommand: CommandModule<object, BuildArgs> = {
    command: "build",
    describe: "Compile node-llama-cpp's addon against the patched llama.cpp (cached: a second run with nothing changed takes seconds)",
    builder: (yargs) => yargs
        .option("gpu", {type: "string", default: "cpu", describe: "Backend to compile in: cpu or cuda"})
        .option("cmake", {type: "string", array: true, default: [], describe: "Extra CMake option NAME=VALUE (repeatable; default: SPARQ_CMAKE_OPTIONS=\"NAME=VALUE;...\")"})
        .option("rpc", {type: "boolean", default: false, describe: "Compile ggml's RPC backend in (GGML_RPC=ON) and build the patched rpc-server"})
        .option("force", {type: "boolean", default: false, describe: "Compile even if the cache holds this build"})
        .example("$0 build", "CPU build")
        .example("$0 build --rpc", "CPU build that can load models onto rpc-server processes, and the patched rpc-server")
        .example("$0 build --gpu cuda --cmake CMAKE_CUDA_ARCHITECTURES=90", "CUDA build for Hopper only"),
    handler: async (args) => {
        const started = performance.now();
        const build = await buildSparqLlama({
            gpu: parseGpuBackend(args.gpu),
            cmakeOptions: args.cmake.length > 0 ? parseCmakeOptions(args.cmake) : undefined,
            rpc: args.rpc,
            force: args.force,
            onProgress: createBuildProgressPrinter()
        });
        const seconds = ((performance.now() - started) / 1000).toFixed(1);
        console.log(`${build.fromCache ? "cached" : "built"} ${build.key} (gpu: ${build.gpu || "cpu"}) in ${seconds} s: ${build.dir}`);
        if (build.rpcServer != null)
            console.log(`rpc-server: ${build.rpcServer}`);
    }
};
