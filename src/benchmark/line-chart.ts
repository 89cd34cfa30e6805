/** A dependency-free SVG line chart: the hit-rate benchmark's result is a picture people look at, not a table they read. */

export interface ChartSeries {
  name: string;
  /** y values in [0, 1] at x = 1, 2, 3, … */
  points: readonly number[];
  /** Drawn dashed: a computed bound rather than a measurement. */
  dashed?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  /** A label for each x position (1, 2, 3, … unless given). */
  xTickLabels?: readonly string[];
}

const COLOURS = ['#d62728', '#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf'];

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function lineChartSvg(series: readonly ChartSeries[], options: ChartOptions): string {
  const width = options.width ?? 900;
  const height = options.height ?? 480;
  const margin = { left: 70, right: 240, top: 50, bottom: 60 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const maxX = Math.max(1, ...series.map((line) => line.points.length));
  const x = (index: number): number => margin.left + (maxX === 1 ? 0 : (index / (maxX - 1)) * plotWidth);
  const y = (value: number): number => margin.top + (1 - Math.min(1, Math.max(0, value))) * plotHeight;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="28" text-anchor="middle" font-size="17">${escapeXml(options.title)}</text>`,
  ];
  for (let tick = 0; tick <= 10; tick += 2) {
    const ty = y(tick / 10);
    parts.push(`<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${ty}" y2="${ty}" stroke="#e0e0e0"/>`);
    parts.push(`<text x="${margin.left - 8}" y="${ty + 4}" text-anchor="end">${tick * 10}%</text>`);
  }
  const labels = options.xTickLabels;
  const xTicks = labels === undefined ? 5 : Math.max(1, labels.length - 1);
  for (let tick = 0; tick <= xTicks; tick++) {
    const index = Math.round((tick / xTicks) * (maxX - 1));
    parts.push(`<text x="${x(index)}" y="${margin.top + plotHeight + 20}" text-anchor="middle">${escapeXml(labels?.[index] ?? String(index + 1))}</text>`);
  }
  parts.push(`<line x1="${margin.left}" x2="${margin.left}" y1="${margin.top}" y2="${margin.top + plotHeight}" stroke="black"/>`);
  parts.push(`<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${margin.top + plotHeight}" y2="${margin.top + plotHeight}" stroke="black"/>`);
  parts.push(`<text x="${margin.left + plotWidth / 2}" y="${height - 15}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  parts.push(`<text transform="translate(20 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`);
  series.forEach((line, index) => {
    const colour = COLOURS[index % COLOURS.length] as string;
    // Earlier series are drawn wider, so a later one lying on top of it still shows its edges.
    const strokeWidth = (1.5 + (series.length - 1 - index) * 1.1).toFixed(1);
    const dash = line.dashed ? ' stroke-dasharray="6 4"' : '';
    const path = line.points.map((value, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(value).toFixed(1)}`).join(' ');
    parts.push(`<path d="${path}" fill="none" stroke="${colour}" stroke-width="${strokeWidth}"${dash} stroke-linejoin="round"/>`);
    const ly = margin.top + 10 + index * 22;
    parts.push(`<line x1="${width - margin.right + 15}" x2="${width - margin.right + 40}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="3"${dash}/>`);
    parts.push(`<text x="${width - margin.right + 46}" y="${ly + 4}">${escapeXml(line.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
