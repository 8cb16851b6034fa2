/**
 * What an eval run writes: a JSON record, a Markdown report with the tables, and a plot of the
 * metric against the attention-transfer fraction (a Vega-Lite spec, rendered to SVG the way
 * `sparq bench` renders its plot).
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {renderVegaLiteSvg} from "../bench/report.js";

export type EvalTable = {
    title?: string,
    headers: string[],
    rows: string[][]
};

export type EvalPlotPoint = {
    /** Line the point belongs to (e.g. "mean realloc on", or a context length). */
    series: string,
    /** The setting's label. */
    label: string,
    /** Attention-transfer fraction (1 = dense). */
    x: number,
    y: number
};

export type EvalPlot = {
    title: string,
    xLabel: string,
    yLabel: string,
    /** Fixed y range (e.g. [0, 100] for accuracies); default: fitted to the data. */
    yDomain?: [number, number],
    points: EvalPlotPoint[]
};

export type EvalReport = {
    task: string,
    title: string,
    /** The command line that produced it. */
    command: string,
    model: {path: string, layerCount: number, headDim: number, trainContextSize: number},
    /** Free-form facts about the run, printed as a list (data, sizes, what was scored). */
    notes: string[],
    startedAt: string,
    wallSeconds: number,
    machine: {cpus: number, cpuModel: string, threads: number | null},
    /** The sparq-llama build that ran: its cache key and the SparQ patch-series version compiled in. */
    build: {key: string | null, sparqVersion: string | null},
    tables: EvalTable[],
    plot: EvalPlot,
    /** Task-specific numbers, unrounded. */
    results: unknown
};

/** Line of the plot a setting belongs to: settings with mean reallocation off form a line of their own. */
export function seriesOf(label: string): string {
    if (label === "dense")
        return "dense";
    return label.includes("/no-realloc") ? "SparQ, mean realloc off" : "SparQ, mean realloc on";
}

/**
 * Plot points of one result per setting, grouped into lines by {@link seriesOf}; dense starts every
 * line (x = 1). `prefix` names a group of lines (e.g. a context length).
 */
export function settingsPlotPoints(points: ReadonlyArray<{label: string, x: number, y: number}>, prefix = ""): EvalPlotPoint[] {
    const lines = [...new Set(points.map((p) => seriesOf(p.label)).filter((s) => s !== "dense"))];
    return points.flatMap((p) => {
        if (p.label !== "dense")
            return [{...p, series: prefix + seriesOf(p.label)}];
        return (lines.length === 0 ? ["dense"] : lines).map((series) => ({...p, series: prefix + series}));
    });
}

/** A Markdown table with padded columns. */
export function formatTable(table: EvalTable): string {
    const widths = table.headers.map((h, i) => Math.max(h.length, ...table.rows.map((r) => (r[i] ?? "").length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
    return [
        ...(table.title ? [`**${table.title}**`, ""] : []),
        line(table.headers),
        `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
        ...table.rows.map(line)
    ].join("\n");
}

export function formatReportMarkdown(report: EvalReport, plotFile: string): string {
    return [
        `# ${report.title}`,
        "",
        `- command: \`${report.command}\``,
        `- model: ${report.model.path} (${report.model.layerCount} layers, head dim ${report.model.headDim}, trained context ${report.model.trainContextSize})`,
        `- started ${report.startedAt}, wall time ${report.wallSeconds.toFixed(1)} s on ${report.machine.cpus} CPUs (${report.machine.cpuModel})` +
            `${report.machine.threads != null ? `, ${report.machine.threads} threads` : ""}; sparq-llama build ${report.build.key ?? "?"} ` +
            `(SparQ version ${report.build.sparqVersion ?? "?"})`,
        ...report.notes.map((n) => `- ${n}`),
        "",
        ...report.tables.flatMap((t) => [formatTable(t), ""]),
        plotFile.endsWith(".svg") ? `![${report.plot.yLabel} against the attention-transfer fraction](${plotFile})`
            : `Plot spec (Vega-Lite; vega was not installed to render it): [${plotFile}](${plotFile})`,
        ""
    ].join("\n");
}

/** A Vega-Lite spec of the plot, data inline: one line per series, points labelled with their setting. */
export function vegaLiteSpec(plot: EvalPlot): Record<string, unknown> {
    return {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        title: plot.title,
        width: 480,
        height: 300,
        data: {values: plot.points},
        layer: [
            {
                mark: {type: "line", point: true},
                encoding: {
                    x: {field: "x", type: "quantitative", title: plot.xLabel, scale: {domain: [0, 1]}},
                    y: {field: "y", type: "quantitative", title: plot.yLabel, scale: plot.yDomain ? {domain: plot.yDomain} : {zero: false}},
                    color: {field: "series", type: "nominal", title: null, legend: {orient: "bottom", columns: 2, labelLimit: 400}},
                    order: {field: "x", type: "quantitative"},
                    tooltip: [{field: "label"}, {field: "x", format: ".3f"}, {field: "y", format: ".4g"}]
                }
            },
            {
                mark: {type: "text", dy: -9, fontSize: 9},
                encoding: {
                    x: {field: "x", type: "quantitative"},
                    y: {field: "y", type: "quantitative"},
                    text: {field: "label"}
                }
            }
        ]
    };
}

export function machineInfo(threads: number | null): EvalReport["machine"] {
    const cpus = os.cpus();
    return {cpus: cpus.length, cpuModel: cpus[0]?.model.trim() ?? "unknown", threads};
}

/**
 * Writes `<name>.json`, `<name>.md`, the plot's spec `<name>.vl.json` and the plot `<name>.svg` (left
 * out when vega/vega-lite are not installed) into `dir`; returns the paths written.
 */
export async function writeEvalReport(dir: string, name: string, report: EvalReport): Promise<string[]> {
    await fs.mkdir(dir, {recursive: true});
    const files = {
        json: path.join(dir, `${name}.json`),
        md: path.join(dir, `${name}.md`),
        spec: path.join(dir, `${name}.vl.json`),
        svg: path.join(dir, `${name}.svg`)
    };
    const spec = vegaLiteSpec(report.plot);
    const svg = await renderVegaLiteSvg(spec);
    await fs.writeFile(files.json, JSON.stringify(report, null, 2) + "\n");
    await fs.writeFile(files.spec, JSON.stringify(spec, null, 2) + "\n");
    if (svg != null)
        await fs.writeFile(files.svg, svg);
    await fs.writeFile(files.md, formatReportMarkdown(report, path.basename(svg != null ? files.svg : files.spec)));
    return [files.json, files.md, files.spec, ...(svg != null ? [files.svg] : [])];
}
