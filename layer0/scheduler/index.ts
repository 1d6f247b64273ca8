// The scheduler's public face for layer 1: the typed client and the types.
export * from './types.ts';
export { createSchedulerClient, type SchedulerClientOptions } from './client.ts';
