// The logs component's public face: the Redis-side client the controller uses, and the types.
// The shipper (shipper.ts) is started only by the composition root (layer1/cli/compose).
export * from './types.ts';
export { LogsClient, redactUrl, percentile, type AppMetrics, type ProcessMetrics, type ReadOptions } from './client.ts';
export { psFilter, type LogFilter } from './entries.ts';
