import {spawn} from "node:child_process";

/** Runs a command to completion and returns its combined output; throws with the output's end on failure. */
export async function runCommand(command: string, args: string[], cwd: string): Promise<string> {
    const child = spawn(command, args, {cwd, stdio: ["ignore", "pipe", "pipe"]});
    let output = "";
    child.stdout.on("data", (chunk) => { output += chunk; });
    child.stderr.on("data", (chunk) => { output += chunk; });
    const code = await new Promise<number | null>((resolve, reject) => {
        child.on("error", reject);
        child.on("close", resolve);
    });
    if (code !== 0)
        throw new Error(`${command} ${args.join(" ")} failed (exit code ${code}):\n${output.split("\n").slice(-40).join("\n")}`);
    return output;
}
