// The runtime's public face: createRuntime, the image store, the stack import, and the types.
export * from './types.ts';
export { createRuntime, type RuntimeOptions } from './runtime.ts';
export { ImageStore } from './images/store.ts';
export { importBuildStack, importStack } from './images/stack.ts';
export { removeCgroupParent, hostCgroups, openCgroups, describeCgroups, REQUIRED_CONTROLLERS, type Cgroups, type CgroupMode } from './cgroups.ts';
