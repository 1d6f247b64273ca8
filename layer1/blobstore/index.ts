// The blobstore's public face: the client, the store library (used in-process by the builder
// and by retention) and the types. The server is started by the composition root.
export * from './types.ts';
export { connectBlobs, localBlobs, type BlobClient } from './client.ts';
export { BlobStore, DEFAULT_GC_GRACE_MS, type PutOptions, type GetOptions } from './store.ts';
export { agentReadToken, signBlobUrl, SIGNED_URL_TTL_SEC } from './signing.ts';
export { loadOrCreateBlobToken } from './token.ts';
