import {execFile} from "node:child_process";
import {promisify} from "node:util";

const execFileAsync = promisify(execFile);

/** Identity for the commits sparq-llama makes inside vendor/llama.cpp (they never leave it). */
const identity = ["-c", "user.name=sparq-llama", "-c", "user.email=sparq-llama@localhost", "-c", "commit.gpgsign=false"];

/** Runs git in `cwd` and returns trimmed stdout; throws with git's stderr on failure. */
export async function git(cwd: string, args: string[], {trim = true}: {trim?: boolean} = {}): Promise<string> {
    try {
        const {stdout} = await execFileAsync("git", [...identity, ...args], {cwd, maxBuffer: 256 * 1024 * 1024});
        return trim ? stdout.trim() : stdout;
    } catch (err) {
        const e = err as {stderr?: string, message: string};
        throw new Error(`git ${args.join(" ")} failed in ${cwd}: ${(e.stderr ?? e.message).trim()}`);
    }
}
