/** How `tgfleet metrics` groups its rows; apart from the summary so the command line can offer them without loading SQLite. */
export const METRICS_GROUPS = ['scope', 'account', 'hour'] as const;
export type MetricsGroupBy = (typeof METRICS_GROUPS)[number];
