// Discovery's public face: the client (and the Redis connection factory every component
// uses) and the types. The embedded Redis server is started only by composition roots.
export * from './types.ts';
export * from './client.ts';
