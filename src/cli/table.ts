/** A table for a terminal (aligned columns) or for Markdown (pipes), from the same rows. */
export type Cell = string | number | null;

export interface TableOptions {
  markdown?: boolean;
  /** Columns to right-align (numbers read better that way); by default every column whose cells are all numbers. */
  alignRight?: readonly number[];
}

export function formatCell(cell: Cell): string {
  if (cell === null) return 'n/a';
  if (typeof cell === 'number') return Number.isInteger(cell) ? String(cell) : cell.toFixed(2);
  return cell;
}

export function formatTable(header: readonly string[], rows: readonly (readonly Cell[])[], options: TableOptions = {}): string {
  const text = rows.map((row) => row.map(formatCell));
  const right = new Set(options.alignRight ?? header.map((_, column) => column).filter((column) => rows.length > 0 && rows.every((row) => typeof row[column] === 'number' || row[column] === null)));
  const widths = header.map((title, column) => Math.max(title.length, ...text.map((row) => (row[column] ?? '').length)));
  const pad = (value: string, column: number): string => (right.has(column) ? value.padStart(widths[column] ?? 0) : value.padEnd(widths[column] ?? 0));
  if (options.markdown) {
    const line = (cells: readonly string[]): string => `| ${cells.map(pad).join(' | ')} |`;
    const rule = `|${widths.map((width, column) => (right.has(column) ? `${'-'.repeat(width + 1)}:` : '-'.repeat(width + 2))).join('|')}|`;
    return [line(header), rule, ...text.map(line)].join('\n');
  }
  const line = (cells: readonly string[]): string => cells.map(pad).join('  ').trimEnd();
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...text.map(line)].join('\n');
}

export function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}
