/** Parses repeated `NAME=VALUE` CMake options; throws naming a malformed one. */
export function parseCmakeOptions(values: string[]): Record<string, string> {
    const options: Record<string, string> = {};
    for (const value of values) {
        const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(value);
        if (match == null)
            throw new Error(`--cmake "${value}" is not NAME=VALUE`);
        options[match[1]!] = match[2]!;
    }
    return options;
}

/** How --dense-below defaults, for the commands that take it (defaultDenseBelow in src/sparq/settings.ts). */
export const denseBelowDefaultHelp = "default: with every layer on CUDA 32k, or 16k for models with 32 or more KV heads, twice that below ratio 8; else 0";
