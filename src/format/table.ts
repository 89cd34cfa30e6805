/** A table for a terminal (aligned columns) or for Markdown (pipes), from the same rows. */
export type Cell = string | number | null;

export interface TableOptions {
  markdown?: boolean;
  /** Columns to right-align (numbers read better that way); by default every column whose cells are all numbers. */
  alignRight?: readonly number[];
  /** Rows set off below a rule, such as a total. */
  footer?: readonly (readonly Cell[])[];
}

export function formatCell(cell: Cell): string {
  if (cell === null) return '-';
  if (typeof cell === 'number') return Number.isInteger(cell) ? String(cell) : cell.toFixed(2);
  return cell;
}

export function formatTable(header: readonly string[], rows: readonly (readonly Cell[])[], options: TableOptions = {}): string {
  const footer = options.footer ?? [];
  const all = [...rows, ...footer];
  const text = all.map((row) => row.map(formatCell));
  const numeric = (column: number): boolean => all.length > 0 && all.every((row) => typeof row[column] === 'number' || row[column] === null);
  const right = new Set(options.alignRight ?? header.map((_, column) => column).filter(numeric));
  const widths = header.map((title, column) => Math.max(title.length, ...text.map((row) => (row[column] ?? '').length)));
  const pad = (value: string, column: number): string => (right.has(column) ? value.padStart(widths[column] ?? 0) : value.padEnd(widths[column] ?? 0));
  const body = text.slice(0, rows.length);
  const foot = text.slice(rows.length);
  if (options.markdown) {
    const line = (cells: readonly string[]): string => `| ${cells.map(pad).join(' | ')} |`;
    const rule = `|${widths.map((width, column) => (right.has(column) ? `${'-'.repeat(width + 1)}:` : '-'.repeat(width + 2))).join('|')}|`;
    return [line(header), rule, ...body.map(line), ...foot.map(line)].join('\n');
  }
  const line = (cells: readonly string[]): string => cells.map(pad).join('  ').trimEnd();
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [line(header), rule, ...body.map(line), ...(foot.length > 0 ? [rule, ...foot.map(line)] : [])].join('\n');
}

export function percent(ratio: number | null): string {
  return ratio === null ? '-' : `${(ratio * 100).toFixed(1)}%`;
}
