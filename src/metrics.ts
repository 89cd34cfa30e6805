/*
 * `tgfleet/metrics`: the SQLite metrics file and the Prometheus endpoint. Apart from the main
 * entry so that a host that uses neither loads neither the SQLite addon nor prom-client.
 */
export { logCacheMetrics, MetricsStore, type LogCacheMetricsOptions } from './telemetry/metrics-store.js';
export { summarizeMetrics, renderMetricsSummary, MetricsFileError, type MetricsSummary, type MetricsGroupBy } from './telemetry/metrics-summary.js';
export { FleetMetrics, startMetricsServer, type MetricsServer } from './telemetry/prometheus.js';
