import type {BuildProgress} from "../build/compile.js";

/**
 * Renders compile progress on stderr: one rewritten line on a terminal, a line per 10% otherwise
 * (CI logs stay short).
 */
export function createBuildProgressPrinter(stream: NodeJS.WriteStream = process.stderr): (progress: BuildProgress) => void {
    let lastDecile = -1;
    return ({done, total}) => {
        if (total === 0)
            return;
        const percent = Math.floor((done / total) * 100);
        if (stream.isTTY) {
            const width = 30;
            const filled = Math.round((done / total) * width);
            stream.write(`\r  compiling llama.cpp [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${done}/${total}`);
            if (done === total)
                stream.write("\n");
        } else if (Math.floor(percent / 10) > lastDecile) {
            lastDecile = Math.floor(percent / 10);
            stream.write(`  compiling llama.cpp: ${done}/${total} (${percent}%)\n`);
        }
    };
}
