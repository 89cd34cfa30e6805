/**
 * tgfleet across several hosts, on PostgreSQL (docs/FLEET.md). A subpath of its own, so that the
 * pg and pg-boss clients load only for programs that use a fleet.
 */
import '../runtime/quiet-web-storage.js';
export { FleetHost, type FleetHostOptions, type FleetHostEvents } from './fleet-host.js';
export { FleetClient, FleetTaskFailedError, type FleetSubmitOptions } from './fleet-client.js';
export { readFleetStatus, renderFleetStatus, type FleetStatus, type HostStatus } from './fleet-status.js';
export { shardOf, fairShare } from './shard-map.js';
export { NotOwnerError } from './fenced-connections.js';
export { LedgerDoubleConnections, type DoubleConnectionCounter, type ConnectionLedger } from './connection-ledger.js';
