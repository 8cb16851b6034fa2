// Multi-process (and, later, multi-device) SparQ over ggml's RPC backend: rpc-server processes hold
// the model's layers and KV cache and run their part of every graph, SparQ op included.
import net from "node:net";
import path from "node:path";
import {spawn, type ChildProcess} from "node:child_process";
import type {Llama, LlamaModel, LlamaModelOptions} from "node-llama-cpp";
import {buildRpcServer, findRpcServer, type RpcServerVariant} from "./build/rpc-server.js";
import {getSparqLlama, type SparqLlamaOptions} from "./load.js";
import {defaultCmakeOptions} from "./build/compile.js";
import {createAddonModel, loadModelWithNativeOptions} from "./models/native-options.js";

export {buildRpcServer, findRpcServer, type RpcServerVariant};

/** Thrown when an rpc-server can't be started or a model can't be loaded onto RPC servers. */
export class RpcError extends Error {}

/**
 * Path of the patched rpc-server (protocol carrying the SparQ op), building it first if needed
 * (`build: "never"` throws instead). `variant: "stock"` is the unpatched one, for tests.
 */
export async function getRpcServerPath({variant = "sparq", build = "auto"}: {variant?: RpcServerVariant, build?: "auto" | "never"} = {}): Promise<string> {
    const found = await findRpcServer(variant);
    if (found != null)
        return found;
    if (build === "never")
        throw new RpcError(`the ${variant} rpc-server is not built: run \`sparq build --rpc\` first`);
    return buildRpcServer(variant);
}

/** `getSparqLlama()` for a build with the RPC backend compiled in (GGML_RPC=ON), the rpc-server included. */
export async function getSparqRpcLlama(options: SparqLlamaOptions = {}): Promise<Llama> {
    const llama = await getSparqLlama({...options, cmakeOptions: {...(options.cmakeOptions ?? defaultCmakeOptions()), GGML_RPC: "ON"}});
    await getRpcServerPath({build: options.build === "never" ? "never" : "auto"});
    return llama;
}

export type RpcServerOptions = {
    /** TCP port; 0 or absent: a free port. */
    port?: number,
    /** Only loopback: the RPC protocol has no authentication, so servers never listen on a network. */
    host?: "127.0.0.1" | "localhost" | "::1",
    /** CPU threads of the server (default: llama.cpp's default, the number of cores). */
    threads?: number,
    /** Which binary: our patched rpc-server (default), or the unpatched one (tests of the refusal). */
    variant?: RpcServerVariant,
    /** Milliseconds to wait for the server to listen (default 30 s). */
    timeoutMs?: number
};

export type RpcServer = {
    /** "host:port", what a client connects to. */
    endpoint: string,
    host: string,
    port: number,
    pid: number,
    variant: RpcServerVariant,
    /** What the server printed so far (stdout and stderr, the last 64 kB). */
    output(): string,
    /** Kills the server (SIGTERM, then SIGKILL after 2 s) and resolves once it has exited. Safe to call twice. */
    stop(): Promise<void>
};

const liveServers = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Whatever ends this process normally, its rpc-servers end with it. */
function installExitHook(): void {
    if (exitHookInstalled)
        return;
    exitHookInstalled = true;
    process.on("exit", () => {
        for (const child of liveServers)
            child.kill("SIGKILL");
    });
}

async function findFreePort(host: string): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, host, () => {
            const port = (server.address() as net.AddressInfo).port;
            server.close(() => resolve(port));
        });
    });
}

function canConnect(host: string, port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = net.connect({host, port});
        const done = (ok: boolean) => {
            socket.destroy();
            resolve(ok);
        };
        socket.once("connect", () => done(true));
        socket.once("error", () => done(false));
        socket.setTimeout(1000, () => done(false));
    });
}

/**
 * Starts an rpc-server on loopback and resolves once it accepts connections. The returned handle's
 * stop() always kills it; servers still running when this process exits are killed too.
 */
export async function startRpcServer(options: RpcServerOptions = {}): Promise<RpcServer> {
    const host = options.host ?? "127.0.0.1";
    if (!["127.0.0.1", "localhost", "::1"].includes(host))
        throw new RpcError(`rpc-servers only listen on loopback (the RPC protocol has no authentication), not on ${host}`);
    const variant = options.variant ?? "sparq";
    const binary = await getRpcServerPath({variant});
    const port = options.port || await findFreePort(host);
    const args = ["-H", host, "-p", String(port)];
    if (options.threads != null)
        args.push("-t", String(options.threads));

    installExitHook();
    const child = spawn(binary, args, {cwd: path.dirname(binary), stdio: ["ignore", "pipe", "pipe"]});
    liveServers.add(child);
    let output = "";
    const collect = (chunk: Buffer) => {
        output = (output + chunk.toString("utf8")).slice(-65536);
    };
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
    let exitCode: number | null | undefined;
    const exited = new Promise<void>((resolve) => {
        child.once("exit", (code, signal) => {
            exitCode = code ?? (signal != null ? -1 : null);
            liveServers.delete(child);
            resolve();
        });
        child.once("error", (err) => {
            output += `\n${err.message}`;
            exitCode = -1;
            liveServers.delete(child);
            resolve();
        });
    });

    const stop = async () => {
        if (exitCode !== undefined)
            return;
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
        await exited;
        clearTimeout(timer);
    };

    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    for (;;) {
        if (exitCode !== undefined)
            throw new RpcError(`rpc-server (${binary} ${args.join(" ")}) exited before listening; its output:\n${output}`);
        if (await canConnect(host, port))
            break;
        if (Date.now() > deadline) {
            await stop();
            throw new RpcError(`rpc-server did not listen on ${host}:${port} within ${options.timeoutMs ?? 30_000} ms; its output:\n${output}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const endpoint = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    return {endpoint, host, port, pid: child.pid!, variant, output: () => output, stop};
}

/** "host:port,host:port" -> the endpoints; throws naming an entry that is not one. */
export function parseRpcEndpoints(list: string): string[] {
    const endpoints = list.split(",").map((entry) => entry.trim());
    for (const endpoint of endpoints)
        if (!isRpcEndpoint(endpoint))
            throw new RpcError(`"${endpoint}" is not a host:port RPC endpoint`);
    return endpoints;
}

function isRpcEndpoint(endpoint: string): boolean {
    return /^(\[[0-9a-fA-F:]+\]|[^:\s,]+):\d+$/.test(endpoint);
}

export type LoadModelOverRpcOptions = LlamaModelOptions & {
    /** The servers, in the order the layers are split over them: "host:port" or handles from startRpcServer(). */
    servers: Array<string | Pick<RpcServer, "endpoint">>,
    /** Layers to offload to the servers (default: all of them and the output layer); the rest stays local. */
    layers?: number,
    /** Share of the offloaded layers per server (default: by the memory each server reports). */
    tensorSplit?: number[]
};

/**
 * Loads a model split by layers over rpc-servers (our patched ones: a stock server is refused with
 * the protocol versions in the error), with `llama` from getSparqRpcLlama(). Returns an ordinary
 * node-llama-cpp LlamaModel: contexts, SparQ (createSparqContext) and generation work as usual,
 * the servers holding the layers, their KV cache, and running their attention.
 */
export async function loadModelOverRpc(llama: Llama, options: LoadModelOverRpcOptions): Promise<LlamaModel> {
    const {servers, layers, tensorSplit, ...modelOptions} = options;
    if (servers.length === 0)
        throw new RpcError("loadModelOverRpc needs at least one server");
    const endpoints = servers.map((server) => typeof server === "string" ? server : server.endpoint);
    for (const endpoint of endpoints)
        if (!isRpcEndpoint(endpoint))
            throw new RpcError(`"${endpoint}" is not a host:port RPC endpoint`);

    // Connect first (protocol handshake included) without creating a model: a LlamaModel whose load
    // fails keeps its Llama from being disposed once it is garbage-collected (node-llama-cpp 3.22.1),
    // and a refused server is the failure to expect here.
    const probe = createAddonModel(llama, modelOptions.modelPath, {rpcServers: endpoints, rpcConnectOnly: true});
    try {
        await probe.init();
    } catch (err) {
        throw new RpcError((err as Error).message);
    } finally {
        await probe.dispose();
    }

    const native: Record<string, unknown> = {rpcServers: endpoints};
    if (layers != null)
        native.rpcLayers = layers;
    if (tensorSplit != null)
        native.rpcTensorSplit = tensorSplit;
    const model = await loadModelWithNativeOptions(llama, modelOptions, native);

    // An addon without our RPC patch ignores the options and loads locally: refuse that instead of
    // quietly running on one process.
    const breakdown = (model as unknown as {_model: {getMemoryBreakdown(): {gpuVram: number}}})._model.getMemoryBreakdown();
    if (layers !== 0 && !(breakdown.gpuVram > 0)) {
        await model.dispose();
        throw new RpcError("the model was loaded locally, not onto the RPC servers: this addon lacks sparq-llama's RPC patch (rebuild with `sparq build --rpc`)");
    }
    return model;
}
